/// One finished remote call, for whoever watches the server (corrald's /metrics).
public struct RPCCallRecord: Sendable {
    /// REMOTE_PROC_ name without the prefix ("DOMAIN_GET_INFO"); "unknown" for numbers the
    /// table lacks, so a client sending random numbers cannot grow a label set without bound.
    public var procedure: String
    /// The reply carried no error.
    public var succeeded: Bool
    /// From dispatch to the reply being queued.
    public var duration: Duration
}

/// Called once per call, on the calling client's task: keep it short and non-blocking.
public typealias RPCCallObserver = @Sendable (RPCCallRecord) -> Void
