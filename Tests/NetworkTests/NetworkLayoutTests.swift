import Testing
@testable import HostNetworks
