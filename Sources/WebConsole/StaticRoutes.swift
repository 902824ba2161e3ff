import Hummingbird

enum StaticRoutes {
    // Skeleton: the helper who owns this file fills it in.
    static func register(on router: Router<WebContext>, state: WebState) {}
}
