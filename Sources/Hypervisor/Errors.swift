// Errors with libvirt's virErrorNumber / virErrorDomain numbers, so they can
// travel on the wire unchanged (remote_error) and read like libvirt's.

public struct VirError: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: Code
    public var domain: ErrorDomain
    public var message: String

    public init(_ code: Code, _ message: String, domain: ErrorDomain = .none) {
        self.code = code; self.message = message; self.domain = domain
    }

    public var description: String { message }

    /// virErrorNumber (subset; numbers are libvirt's).
    public enum Code: Int32, Sendable {
        case ok = 0, internalError = 1, noMemory = 2, noSupport = 3, unknownHost = 4, noConnect = 5,
             invalidConn = 6, invalidDomain = 7, invalidArg = 8, operationFailed = 9, getFailed = 10,
             postFailed = 11, httpError = 12, sexprSerial = 13, noXen = 14, xenCall = 15, osType = 16,
             noKernel = 17, noRoot = 18, noSource = 19, noTarget = 20, noName = 21, noOS = 22,
             noDevice = 23, noXenStore = 24, driverFull = 25, callFailed = 26, xmlError = 27,
             domExist = 28, operationDenied = 29, openFailed = 30, readFailed = 31, parseFailed = 32,
             confSyntax = 33, writeFailed = 34, xmlDetail = 35, invalidNetwork = 36, networkExist = 37,
             systemError = 38,
             rpc = 39, gnutlsError = 40, noDomain = 42, noNetwork = 43, invalidMAC = 44,
             authFailed = 45, operationInvalid = 55, noStoragePool = 49, noStorageVol = 50,
             operationTimeout = 68, configUnsupported = 67, migratePersistFailed = 69,
             agentUnresponsive = 86, resourceBusy = 87, accessDenied = 88, operationUnsupported = 84,
             noClient = 96, agentUnsynced = 97, xmlInvalidSchema = 98, deviceMissing = 99
        case storageProbeFailed = 75, storagePoolBuilt = 76, storageVolExist = 90
    }
}

/// virErrorDomain (subset; libvirt's numbers).
public enum ErrorDomain: Int32, Sendable {
    case none = 0, xen = 1, xend = 2, xenstore = 3, sexpr = 4, xml = 5, dom = 6, rpc = 7, proxy = 8,
         conf = 9, qemu = 10, net = 11, test = 12, remote = 13, storage = 18, domain = 20, uuid = 21,
         driver = 25, security = 27, conn = 29
}

extension VirError {
    public static func noDomain(name: String) -> VirError {
        VirError(.noDomain, "Domain not found: no domain with matching name '\(name)'", domain: .qemu)
    }
    public static func noDomain(uuid: String) -> VirError {
        VirError(.noDomain, "Domain not found: no domain with matching uuid '\(uuid)'", domain: .qemu)
    }
    public static func noDomain(id: Int32) -> VirError {
        VirError(.noDomain, "Domain not found: no domain with matching id \(id)", domain: .qemu)
    }
    public static func notRunning(_ name: String) -> VirError {
        VirError(.operationInvalid, "Requested operation is not valid: domain is not running", domain: .qemu)
    }
    public static func alreadyRunning(_ name: String) -> VirError {
        VirError(.operationInvalid, "Requested operation is not valid: domain is already running", domain: .qemu)
    }
}
