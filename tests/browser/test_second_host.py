"""A second corrald (its own root, libvirt's remote protocol on a TCP port) added on the hosts page by
URI and managed from the first one's console: the same pages, through the remote protocol."""
import pytest

import ui
from webd import guest_files, tiny_domain_xml

NAME = "remote-tiny"


@pytest.fixture(scope="module")
def page(browser, corral):
    return ui.Console(browser, corral.base_url)


@pytest.fixture(scope="module")
def remote(corral, corral2):
    """The second host's connection id in the console; the connection is removed afterwards."""
    state = {}
    yield state
    corral2.remove_domain(NAME)
    if "id" in state:
        corral.api("DELETE", f"/connections/{state['id']}")


@pytest.mark.incremental
class TestSecondHost:
    def test_add_host_by_uri(self, page, corral, corral2, remote, shot):
        page.open("/hosts")
        page.wait('[data-conn="local"]')
        page.fill("#add-connection-uri", corral2.tcp_uri)
        page.click("#add-connection-button")

        def added():
            return next((c for c in corral.api_ok("GET", "/connections") if c["uri"] == corral2.tcp_uri), None)
        conn = page.until(added, ui.PAGE, f"{corral2.tcp_uri} in GET /connections")
        remote["id"] = conn["id"]
        assert not conn["local"] and not conn["readOnly"]
        card = page.wait(f'[data-conn="{conn["id"]}"]')
        for what in ("guests", "storage", "networks"):
            assert page.find(f'a[href="#/c/{conn["id"]}/{what}"]', within=card) is not None or \
                page.find(f'a[href="#/c/{conn["id"]}/{what}"]') is not None, f"no link to the host's {what}"
        host = corral.api_ok("GET", f"/connections/{conn['id']}/host")
        assert host["node"]["cpus"] >= 1
        shot("hosts")

    def test_define_and_start_remote_guest(self, page, corral, corral2, remote, tiny):
        cid = remote["id"]
        files = guest_files(tiny, corral2, NAME)
        r = corral.api("POST", f"/connections/{cid}/domains", xml=tiny_domain_xml(tiny, files, NAME))
        assert r.status == 201, r
        # Defined through the console's connection, so the second daemon itself has it.
        assert NAME in corral2.corral("list", "--all", "--name").stdout.split()
        page.open(f"/c/{cid}/guests")
        row = page.wait(f'tr[data-domain="{NAME}"]')
        page.wait_state(NAME, "shut off", ui.PAGE)
        page.click('button[data-action="start"]', within=row)
        page.wait_state(NAME, "running", ui.PAGE * 2)
        assert corral2.corral("domstate", NAME).stdout.strip() == "running"

    def test_remote_serial_console(self, page, remote):
        page.open(f"/c/{remote['id']}/console/{NAME}/serial")
        page.serial_shows_ready()

    def test_stop_remote_guest(self, page, corral2, remote):
        page.open(f"/c/{remote['id']}/guests")
        page.wait_state(NAME, "running", ui.PAGE)
        page.click('button[data-action="destroy"]', within=page.row(NAME))
        page.wait_state(NAME, "shut off", ui.PAGE, confirm=True)
        assert corral2.corral("domstate", NAME).stdout.strip() == "shut off"
