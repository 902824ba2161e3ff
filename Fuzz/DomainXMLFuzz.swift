// libFuzzer entry point for the domain XML parser and formatter (see Fuzz/run-domainxml.sh).
// Property: any input is rejected or accepted without crashing, and an accepted document
// formats to XML that parses again and formats to the same text.

@_cdecl("LLVMFuzzerTestOneInput")
public func domainXMLFuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    guard var domain = try? Domain(xml: text) else { return 0 }
    let xml = domain.formatXML([.secure])
    guard let again = try? Domain(xml: xml), again.formatXML([.secure]) == xml else {
        fatalError("formatting is not a fixed point for input:\n\(text)")
    }
    domain.applyDefaults()
    _ = domain.formatXML(.inactive)
    return 0
}
