import Hummingbird

enum WizardRoutes {
    // Skeleton: the helper who owns this file fills it in.
    static func register(on router: Router<WebContext>, state: WebState) {}
}
