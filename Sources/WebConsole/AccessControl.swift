import Hummingbird

enum AccessControl {
    // Skeleton: the helper who owns this file fills it in.
    static func install(on router: Router<WebContext>, wsRouter: Router<WebContext>, state: WebState) {}
}
