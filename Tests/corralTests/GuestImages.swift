import Foundation

/// The GuestFS fixture images, built once per test process by scripts/guest-images.sh (idempotent)
/// into .build/guest-images or $GUEST_IMAGES_DIR; shared by the `corral guest` test suites.
enum GuestImages {
    static let dir: Result<String, any Error> = {
        let dir = ProcessInfo.processInfo.environment["GUEST_IMAGES_DIR"]
            ?? CLI.packageRoot.appendingPathComponent(".build/guest-images").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = [CLI.packageRoot.appendingPathComponent("scripts/guest-images.sh").path, dir]
        do { try p.run() } catch { return .failure(error) }
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            return .failure(CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "guest-images.sh failed"]))
        }
        return .success(dir)
    }()
}
