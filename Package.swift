// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "Corral",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "corral", targets: ["corral"]),
        .executable(name: "corrald", targets: ["corrald"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.20.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.6.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.1.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
    ],
    targets: [
        // Pure libvirt XML models: parse, validate, format. Imports nothing of ours.
        .target(name: "DomainXML"),
        // Hypervisor-neutral API: connection URIs, the driver protocol, errors, states.
        .target(name: "Hypervisor", dependencies: ["DomainXML"]),
        // Storage pools and volumes (dir, fs, logical) under a state root; libvirt's storage driver.
        .target(name: "Storage", dependencies: ["DomainXML", "Hypervisor", "GuestFS"]),
        // Virtual networks: bridge + dnsmasq + nftables (system), user-mode networking (session).
        .target(name: "HostNetworks", dependencies: ["DomainXML", "Hypervisor"]),
        // QEMU: argv from the model, QMP, process lifecycle under a state root.
        .target(name: "QEMUDriver", dependencies: [
            "DomainXML", "Hypervisor", "Storage", "HostNetworks",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ]),
        // Read-only access to guest disk images: formats, partitions, filesystems. Imports nothing of ours.
        .target(name: "GuestFS", dependencies: ["CZlib", "CZstd"]),
        // System zlib and libzstd for qcow2 compressed clusters.
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CZstd", path: "Sources/CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        // In-memory hypervisor, like libvirt's test:///default.
        .target(name: "TestDriver", dependencies: ["DomainXML", "Hypervisor"]),
        // libvirt's remote RPC protocol: XDR, framing, procedure table, server dispatch.
        .target(name: "RemoteProtocol", dependencies: [
            "DomainXML", "Hypervisor",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ], swiftSettings: [
            // Swift 6.3's optimizer crashes (signal 11, "While splitting coroutine") on the remote
            // driver's async calls; release builds compile this module unoptimized until it is fixed.
            .unsafeFlags(["-Onone"], .when(configuration: .release)),
        ]),
        // libFuzzer harness for the protocol decoders (see the file for the build flags).
        .executableTarget(name: "remote-fuzzer", dependencies: ["RemoteProtocol"]),
        // libFuzzer harness for the image readers (qcow2, partitions, LVM, filesystems); scripts/fuzz.sh.
        .executableTarget(name: "guestfs-fuzzer", dependencies: ["GuestFS"]),
        // osinfo-db (Debian's osinfo-db XML): OS variants and their recommended guest settings.
        .target(name: "OSInfo"),
        // The web console served by corrald --http: JSON API, WebSocket events and console
        // proxies, Prometheus metrics, the pages in Web/.
        .target(name: "WebConsole", dependencies: [
            "DomainXML", "Hypervisor", "OSInfo",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOWebSocket", package: "swift-nio"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        // The daemon: serves the remote protocol on UNIX sockets (and optionally TCP).
        .executableTarget(name: "corrald", dependencies: [
            "Hypervisor", "QEMUDriver", "RemoteProtocol", "HostNetworks", "WebConsole",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ]),
        .executableTarget(name: "corral", dependencies: [
            "DomainXML", "Hypervisor", "QEMUDriver", "TestDriver", "RemoteProtocol", "GuestFS",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .testTarget(name: "DomainXMLTests", dependencies: ["DomainXML"]),
        .testTarget(name: "GuestFSTests", dependencies: ["GuestFS"]),
        .testTarget(name: "StorageTests", dependencies: ["Storage", "DomainXML", "Hypervisor"]),
        .testTarget(name: "NetworkTests", dependencies: ["HostNetworks", "DomainXML", "Hypervisor", "RemoteProtocol"]),
        .testTarget(name: "HypervisorTests", dependencies: ["Hypervisor"]),
        .testTarget(name: "QEMUDriverTests", dependencies: ["QEMUDriver", "DomainXML", "Hypervisor", "HostNetworks"]),
        .testTarget(name: "TestDriverTests", dependencies: ["TestDriver", "Hypervisor"]),
        .testTarget(name: "corralTests", dependencies: ["Hypervisor", "corral", "GuestFS"]),
        .testTarget(name: "OSInfoTests", dependencies: ["OSInfo"]),
        .testTarget(name: "WebConsoleTests", dependencies: [
            "WebConsole", "Hypervisor", "TestDriver", "corrald", "QEMUDriver", "DomainXML",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdTesting", package: "hummingbird"),
            .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
        ]),
        .testTarget(name: "RemoteProtocolTests", dependencies: [
            "RemoteProtocol", "Hypervisor", "TestDriver", "corrald",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOEmbedded", package: "swift-nio"),
        ]),
    ],
    swiftLanguageModes: [.v6]
)
