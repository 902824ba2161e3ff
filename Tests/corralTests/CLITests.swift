import DomainXML
import Foundation
import Testing

// The real `corral` binary against test:///default (each process gets a fresh test driver).

func virsh(_ args: String..., stdin: String? = nil, env: [String: String] = [:]) throws -> CLI.Result {
    try CLI.run(["-c", "test:///default"] + args, stdin: stdin, env: env, timeout: 30)
}

let domainXMLParserLanded = (try? Domain(xml: "<domain type='test'><name>p</name><memory>1024</memory><os><type>hvm</type></os></domain>")) != nil

@Suite struct CLIOutputTests {
    @Test func listIsVirshTable() throws {
        let r = try virsh("list")
        #expect(r.status == 0)
        #expect(r.err == "")
        #expect(r.out == " Id   Name   State\n----------------------\n 1    test   running\n\n")
    }

    @Test func listPlainForms() throws {
        #expect(try virsh("list", "--all", "--name").out == "test\n\n")
        #expect(try virsh("list", "--uuid").out == "6695eb01-f6a4-8304-79aa-97f2502e193f\n\n")
        #expect(try virsh("list", "--id").out == "1\n\n")
        #expect(try virsh("list", "--inactive").out == " Id   Name   State\n--------------------\n\n")
        #expect(try virsh("list", "--uuid", "--table").out
                == " Id   Name   State     UUID\n" + String(repeating: "-", count: 5 + 7 + 10 + 39) + "\n"
                 + " 1    test   running   6695eb01-f6a4-8304-79aa-97f2502e193f\n\n")
    }

    @Test func quietDropsHeaderAndBlankLine() throws {
        #expect(try virsh("-q", "list").out == " 1   test   running\n")
        #expect(try virsh("-q", "suspend", "test").out == "")
    }

    @Test func listJSON() throws {
        let r = try virsh("list", "--all", "--json")
        let items = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [[String: Any]])
        #expect(items.count == 1)
        #expect(items.first?["name"] as? String == "test")
        #expect(items.first?["state"] as? String == "running")
        #expect(items.first?["id"] as? Int == 1)
    }

    @Test func dominfoLayout() throws {
        let r = try virsh("dominfo", "test")
        #expect(r.status == 0)
        // CPU time grows while the domain runs; everything else is fixed.
        let lines = r.out.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.hasPrefix("CPU time:") }
        #expect(lines.joined(separator: "\n") == """
            Id:             1
            Name:           test
            UUID:           6695eb01-f6a4-8304-79aa-97f2502e193f
            OS Type:        linux
            State:          running
            CPU(s):         2
            Max memory:     8388608 KiB
            Used memory:    2097152 KiB
            Persistent:     yes
            Autostart:      disable
            Managed save:   no
            Security model: testSecurity
            Security DOI:   \("")
            Security label: libvirt-test (enforcing)


            """)
    }

    @Test func identityCommandsAcceptNameIDAndUUID() throws {
        #expect(try virsh("domid", "test").out == "1\n\n")
        #expect(try virsh("domname", "1").out == "test\n\n")
        #expect(try virsh("domname", "6695eb01-f6a4-8304-79aa-97f2502e193f").out == "test\n\n")
        #expect(try virsh("domuuid", "1").out == "6695eb01-f6a4-8304-79aa-97f2502e193f\n\n")
        #expect(try virsh("domstate", "--domain", "test").out == "running\n\n")
    }

    @Test func nodeinfoAndVersion() throws {
        #expect(try virsh("nodeinfo").out == """
            CPU model:           i686
            CPU(s):              16
            CPU frequency:       1400 MHz
            CPU socket(s):       2
            Core(s) per socket:  2
            Thread(s) per core:  2
            NUMA cell(s):        2
            Memory size:         3145728 KiB


            """)
        let v = try virsh("version").out
        #expect(v.hasPrefix("Compiled against library: corral "))
        #expect(v.contains("\nUsing API: TEST "))
        #expect(v.hasSuffix("Running hypervisor: TEST 0.0.2\n\n"))
        #expect(try virsh("uri").out == "test:///default\n\n")
    }

    @Test func domstatsState() throws {
        #expect(try virsh("domstats", "--state").out == "Domain: 'test'\n  state.state=1\n  state.reason=1\n\n")
    }

    @Test(.enabled(if: domainXMLParserLanded, "needs the DomainXML parser"))
    func domblklistAndDomiflist() throws {
        #expect(try virsh("domblklist", "test").out
                == " Target   Source\n" + String(repeating: "-", count: 9 + 20) + "\n vda      /guest/diskimage1\n\n")
        #expect(try virsh("domiflist", "test").out
                == " Interface   Type      Source    Model   MAC\n" + String(repeating: "-", count: 12 + 10 + 10 + 8 + 20)
                 + "\n testnet0    network   default   -       aa:bb:cc:dd:ee:ff\n\n")
        #expect(try virsh("domblklist", "--details", "test").out
                == " Type   Device   Target   Source\n" + String(repeating: "-", count: 7 + 9 + 9 + 20)
                 + "\n file   disk     vda      /guest/diskimage1\n\n")
    }
}

@Suite struct CLIModesTests {
    @Test func multiCommandString() throws {
        let r = try virsh("suspend test; domstate --reason test; resume 1; domstate test --reason")
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out == "Domain 'test' suspended\n\npaused (user)\n\nDomain 'test' resumed\n\nrunning (unpaused)\n\n")
    }

    @Test func multiCommandWords() throws {
        let r = try virsh("destroy", "test", ";", "domstate", "--reason", "test")
        #expect(r.out == "Domain 'test' destroyed\n\nshut off (destroyed)\n\n")
    }

    @Test func lastCommandDecidesStatusInMultiCommandMode() throws {
        let failedFirst = try virsh("dominfo nosuch; domid test")
        #expect(failedFirst.status == 0)
        #expect(failedFirst.err.contains("error: failed to get domain 'nosuch'"))
        #expect(try virsh("domid test; dominfo nosuch").status == 1)
    }

    @Test func scriptOnStdin() throws {
        let script = """
            # stop the guest and check it
            shutdown test
            domstate --reason test   # trailing comment

            list --all
            """
        let r = try CLI.run(["-c", "test:///default"], stdin: script, timeout: 30)
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out == "Domain 'test' is being shutdown\n\nshut off (shutdown)\n\n"
                 + " Id   Name   State\n-----------------------\n -    test   shut off\n\n")
    }

    @Test func scriptLinesContinueAfterBackslash() throws {
        let r = try CLI.run(["-c", "test:///default"], stdin: "list \\\n  --all \\\n  --na\\\nme\n", timeout: 30)
        #expect(r.out == "test\n\n", "\(r.err)")
    }

    @Test func failingScriptLineMakesStatusOne() throws {
        let r = try CLI.run(["-c", "test:///default"], stdin: "domid test\nbogus\ndomid test\n", timeout: 30)
        #expect(r.status == 1)
        #expect(r.out == "1\n\n\n1\n\n")
        #expect(r.err == "error: unknown command: 'bogus'\n")
    }

    @Test func defaultURIFromEnvironment() throws {
        let r = try CLI.run(["uri"], env: ["CORRAL_DEFAULT_URI": "test:///default", "LIBVIRT_DEFAULT_URI": "qemu:///system"], timeout: 30)
        #expect(r.out == "test:///default\n\n")
        let l = try CLI.run(["uri"], env: ["CORRAL_DEFAULT_URI": "", "LIBVIRT_DEFAULT_URI": "test:///default"], timeout: 30)
        #expect(l.out == "test:///default\n\n")
    }

    @Test func consoleEchoesStdinWhenNotATerminal() throws {
        let r = try virsh("console", "test", stdin: "hello console\n", env: ["CORRAL_CONSOLE_DRAIN_MS": "200"])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.hasPrefix("Connected to domain 'test'\nEscape character is ^] (Ctrl + ])\n"))
        #expect(r.out.contains("hello console\n"))
    }
}

@Suite struct CLIErrorTests {
    @Test func unknownDomain() throws {
        let r = try virsh("dominfo", "nosuch")
        #expect(r.status == 1)
        #expect(r.out == "\n")
        #expect(r.err == "error: failed to get domain 'nosuch'\nerror: Domain not found: no domain with matching name 'nosuch'\n")
    }

    @Test func startingARunningDomain() throws {
        let r = try virsh("start", "test")
        #expect(r.status == 1)
        #expect(r.err == "error: Domain is already active\n")
    }

    @Test func badXMLFile() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("corral-bad-\(UUID().uuidString).xml")
        try "<domain type='test'><name>broken</name>".write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let r = try virsh("define", file.path)
        #expect(r.status == 1)
        #expect(r.err.hasPrefix("error: Failed to define domain from \(file.path)\nerror: XML error: "), "\(r.err)")
        #expect(!r.err.contains("XML error: XML error"))
        let missing = try virsh("define", "/nonexistent/x.xml")
        #expect(missing.status == 1)
        #expect(missing.err == "error: Failed to open file '/nonexistent/x.xml': No such file or directory\n")
    }

    @Test func argumentErrorsExitOne() throws {
        let unknownOption = try virsh("list", "--bogus")
        #expect(unknownOption.status == 1)
        #expect(unknownOption.err.hasPrefix("error: command 'list': "))
        let missingDomain = try virsh("dominfo")
        #expect(missingDomain.status == 1)
        #expect(missingDomain.err.hasPrefix("error: "))
        let badGlobal = try CLI.run(["--bogus"], timeout: 30)
        #expect(badGlobal.status == 1)
        #expect(badGlobal.err.hasPrefix("error: "))
        #expect(try virsh("frobnicate").err == "error: unknown command: 'frobnicate'\n")
    }

    @Test func readOnlyRefusesChanges() throws {
        let r = try CLI.run(["-r", "-c", "test:///default", "destroy", "test"], timeout: 30)
        #expect(r.status == 1)
        #expect(r.err == "error: Failed to destroy domain 'test'\nerror: operation forbidden: read only access prevents virDomainDestroy\n")
        #expect(try CLI.run(["-r", "-c", "test:///default", "domstate", "test"], timeout: 30).out == "running\n\n")
    }

    @Test func daemonURIsFailClearlyWithoutADaemon() throws {
        // Daemon URIs go through the remote client; without a daemon the error says why.
        let cases = [
            ("qemu+unix:///system?socket=/nonexistent/corral-sock",
             "Failed to connect socket to '/nonexistent/corral-sock': No such file or directory"),
            ("qemu+ssh://root@host/system?command=false", "End of file while reading data: Input/output error"),
            ("qemu://host/system", "this function is not supported by the connection driver: transport 'tls'"),
        ]
        for (uri, message) in cases {
            let r = try CLI.run(["-c", uri, "list"], timeout: 30)
            #expect(r.status == 1)
            #expect(r.err.hasPrefix("error: failed to connect to the hypervisor\nerror: \(message)"), "\(r.err)")
        }
    }

    @Test func lifecycleErrorsOnStoppedDomain() throws {
        let r = try virsh("destroy test; suspend test")
        #expect(r.status == 1)
        #expect(r.err == "error: Failed to suspend domain 'test'\nerror: Requested operation is not valid: domain is not running\n")
    }
}

@Suite(.enabled(if: domainXMLParserLanded, "needs the DomainXML parser"))
struct CLIDefinitionTests {
    func tempXML(_ name: String) throws -> URL {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("corral-\(name)-\(UUID().uuidString.prefix(8)).xml")
        try """
        <domain type='test'>
          <name>\(name)</name>
          <memory unit='KiB'>1048576</memory>
          <vcpu>1</vcpu>
          <os><type>hvm</type></os>
        </domain>
        """.write(to: file, atomically: true, encoding: .utf8)
        return file
    }

    @Test func defineStartList() throws {
        let file = try tempXML("vm-with-a-long-name")
        defer { try? FileManager.default.removeItem(at: file) }
        let r = try virsh("define \(file.path); start vm-with-a-long-name; list --all")
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out == "Domain 'vm-with-a-long-name' defined from \(file.path)\n\n"
                 + "Domain 'vm-with-a-long-name' started\n\n"
                 + " Id   Name                  State\n" + String(repeating: "-", count: 5 + 22 + 10) + "\n"
                 + " 1    test                  running\n 2    vm-with-a-long-name   running\n\n")
    }

    @Test func editUnchangedAndInvalid() throws {
        let same = try virsh("edit", "test", env: ["EDITOR": "true", "VISUAL": ""])
        #expect(same.status == 0, "\(same.err)")
        #expect(same.out == "Domain 'test' XML configuration not changed.\n\n")
        // An editor that breaks the XML: reported, old config kept, status 1 (stdin is not a terminal).
        let broken = try virsh("edit test; dominfo test", env: ["EDITOR": "sh -c 'echo \"<domain>\" > \"$0\"'", "VISUAL": ""])
        #expect(broken.err.contains("error: "))
        #expect(broken.out.contains("Name:           test"))
    }

    @Test func createPausedIsTransient() throws {
        let file = try tempXML("tr")
        defer { try? FileManager.default.removeItem(at: file) }
        let r = try virsh("create --paused \(file.path); domstate --reason tr; destroy tr; list --all --name")
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out == "Domain 'tr' created from \(file.path)\n\npaused (user)\n\nDomain 'tr' destroyed\n\ntest\n\n")
    }
}

/// Terminal behaviour, through util-linux `script` which gives corral a pseudo-terminal.
@Suite(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/script"), "needs /usr/bin/script"))
struct CLITerminalTests {
    func inTerminal(_ command: String, stdin: String) throws -> CLI.Result {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/script")
        p.arguments = ["-qec", "'\(CLI.binary.path)' -c test:///default \(command)", "/dev/null"]
        let inPipe = Pipe(), outPipe = Pipe()
        p.standardInput = inPipe; p.standardOutput = outPipe; p.standardError = outPipe
        try p.run()
        // Feed slowly: the terminal must be set up before keystrokes matter.
        for line in stdin.split(separator: "\n", omittingEmptySubsequences: false) {
            Thread.sleep(forTimeInterval: 0.5)
            inPipe.fileHandleForWriting.write(Data((line + (line.hasSuffix("\u{1d}") ? "" : "\n")).utf8))
        }
        Thread.sleep(forTimeInterval: 0.5)
        try inPipe.fileHandleForWriting.close()
        let out = outPipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return CLI.Result(status: p.terminationStatus, out: String(decoding: out, as: UTF8.self).replacingOccurrences(of: "\r", with: ""), err: "")
    }

    @Test func interactiveShell() throws {
        let r = try inTerminal("", stdin: "domstate test\nquit")
        #expect(r.status == 0)
        #expect(r.out.contains("Welcome to corral, the virtualization interactive terminal."))
        #expect(r.out.contains("corral # domstate test\nrunning\n\ncorral # quit\n"), "\(r.out)")   // the terminal echoes input
    }

    @Test func consoleLeavesOnEscape() throws {
        let r = try inTerminal("'console test; domstate test'", stdin: "typed\u{1d}")
        #expect(r.status == 0, "\(r.out)")
        #expect(r.out.contains("Connected to domain 'test'\nEscape character is ^] (Ctrl + ])\n"))
        #expect(r.out.contains("typed"))
        #expect(r.out.hasSuffix("running\n\n"), "\(r.out)")
    }
}
