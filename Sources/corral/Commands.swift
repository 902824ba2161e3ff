import ArgumentParser

/// The command table, like virsh's cmdGroups: name -> parser type, grouped for `help`.
enum Commands {
    static let groups: [(title: String, commands: [any ShellCommand.Type])] = [
        ("Domain Management", [
            Autostart.self, Console.self, Create.self, Define.self, Destroy.self, DomXMLToNative.self,
            DumpXML.self, Edit.self, Reboot.self, Reset.self, Resume.self, Shutdown.self, Start.self,
            Suspend.self, Undefine.self,
        ]),
        ("Domain Devices", [
            AttachDevice.self, AttachDisk.self, AttachInterface.self, ChangeMedia.self, DetachDevice.self,
            DetachDisk.self, DetachInterface.self, UpdateDevice.self,
        ]),
        ("Domain Monitoring", [
            DomBlkList.self, DomIfAddr.self, DomIfList.self, DomInfo.self, DomState.self, DomStats.self, ListDomains.self,
        ]),
        ("Domain Identity", [DomID.self, DomName.self, DomUUID.self]),
        ("Networking", [
            NetAutostart.self, NetCreate.self, NetDefine.self, NetDestroy.self, NetDHCPLeases.self, NetDumpXML.self,
            NetInfo.self, NetList.self, NetName.self, NetStart.self, NetUndefine.self, NetUUID.self,
        ]),
        ("Host and Hypervisor", [
            Capabilities.self, DomCapabilities.self, Hostname.self, NodeInfo.self, URI.self, Version.self,
        ]),
        ("Storage Pool", [
            PoolAutostart.self, PoolBuild.self, PoolCreate.self, PoolCreateAs.self, PoolDefine.self,
            PoolDefineAs.self, PoolDelete.self, PoolDestroy.self, PoolDumpXML.self, PoolInfo.self,
            PoolList.self, PoolName.self, PoolRefresh.self, PoolStart.self, PoolUndefine.self, PoolUUID.self,
        ]),
        ("Storage Volume", [
            VolClone.self, VolCreate.self, VolCreateAs.self, VolCreateFrom.self, VolDelete.self,
            VolDownload.self, VolDumpXML.self, VolInfo.self, VolKey.self, VolList.self, VolName.self,
            VolPath.self, VolPool.self, VolResize.self, VolUpload.self, VolWipe.self,
        ]),
        ("Corral itself", [Help.self, Quit.self]),
    ]

    static func find(_ name: String) -> (any ShellCommand.Type)? {
        for group in groups {
            if let t = group.commands.first(where: { $0.configuration.commandName == name }) { return t }
        }
        return nil
    }

    static func isQuit(_ name: String) -> Bool { name == "quit" || name == "exit" }

    static func summary() -> String {
        var out = ""
        for group in groups {
            out += " \(group.title):\n"
            for t in group.commands {
                let name = t.configuration.commandName ?? ""
                out += "    " + name.padding(toLength: max(name.count, 18), withPad: " ", startingAt: 0)
                    + " " + t.configuration.abstract + "\n"
            }
            out += "\n"
        }
        return out
    }
}

struct Help: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "help", abstract: "print help")

    @Argument(help: "Command to describe.")
    var command: String?

    func execute(_ shell: Shell) async throws {
        guard let command else {
            shell.print(Commands.summary())
            return
        }
        guard let type = Commands.find(command) else { throw CommandFailure("command or command group '\(command)' doesn't exist") }
        shell.print(type.helpMessage() + "\n")
    }
}

struct Quit: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "quit", abstract: "quit this interactive terminal",
                                                    aliases: ["exit"])
    func execute(_ shell: Shell) async throws {}
}
