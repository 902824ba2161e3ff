import Foundation
import Testing
import Hypervisor
@testable import RemoteProtocol

@Suite struct XDRTests {
    @Test func integersAreBigEndian() {
        var w = XDRWriter()
        w.writeInt32(-2)
        w.writeUInt64(0x0102_0304_0506_0708)
        w.writeBool(true)
        #expect(w.bytes == [0xff, 0xff, 0xff, 0xfe, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 1])
        var r = XDRReader(w.bytes)
        #expect(try r.readInt32() == -2)
        #expect(try r.readUInt64() == 0x0102_0304_0506_0708)
        #expect(try r.readBool() == true)
        #expect(throws: Never.self) { try r.finish() }
    }

    @Test func stringsArePaddedToFourBytes() throws {
        var w = XDRWriter()
        w.writeString("abcde")
        #expect(w.bytes == [0, 0, 0, 5, 0x61, 0x62, 0x63, 0x64, 0x65, 0, 0, 0])
        var r = XDRReader(w.bytes)
        #expect(try r.readString() == "abcde")
    }
}
