import Testing
@testable import corral

@Suite struct TableTests {
    @Test func virshListLayout() {
        var t = Table("Id", "Name", "State")
        t.append("1", "test", "running")
        t.append("-", "a-much-longer-name", "shut off")
        // Columns 2, 18 and 8 wide: dashes are width + 3 per column.
        #expect(t.render() == " Id   Name                 State\n" + String(repeating: "-", count: 5 + 21 + 11) + "\n"
                + " 1    test                 running\n -    a-much-longer-name   shut off\n")
    }

    @Test func headerlessWidthsComeFromDataOnly() {
        var t = Table("Target", "Source")
        t.append("vda", "/x")
        #expect(t.render(header: false) == " vda   /x\n")
        #expect(t.render() == " Target   Source\n------------------\n vda      /x\n")
    }

    @Test func controlCharactersAreEscaped() {
        #expect(Table.safeEncode("a\tb") == "a\\x09b")
        #expect(Table.safeEncode("c:\\x") == "c:\\x5cx")
        #expect(Table.displayWidth("日本") == 4)
    }
}

@Suite struct TokenizerTests {
    @Test func splitsCommandsAndQuotes() throws {
        #expect(try Tokenizer.split("define f.xml; start 'my vm'") == [["define", "f.xml"], ["start", "my vm"]])
        #expect(try Tokenizer.split(#"echo "a \"b\" c"   x"#) == [["echo", #"a "b" c"#, "x"]])
        #expect(try Tokenizer.split("list\n# comment ; not a command\ndominfo test # trailing") == [["list"], ["dominfo", "test"]])
        #expect(try Tokenizer.split("list \\\n --all") == [["list", "--all"]])
        #expect(try Tokenizer.split("  ;; ") == [])
    }

    @Test func syntaxErrors() {
        #expect(throws: Tokenizer.SyntaxError.self) { try Tokenizer.split("echo \"open") }
        #expect(throws: Tokenizer.SyntaxError.self) { try Tokenizer.split("echo \\") }
    }

    @Test func wordModeSeparators() {
        #expect(Tokenizer.splitWords(["list", ";", "dominfo", "test", ";"]) == [["list"], ["dominfo", "test"]])
    }
}
