"""The storage and networks pages on the local connection: their forms create what they say."""
import pytest

import ui

VOL = "web-vol.qcow2"
NET = "webnet"


@pytest.fixture(scope="module")
def page(browser, corral):
    return ui.Console(browser, corral.base_url)


def test_storage_page_creates_volume(page, corral, shot):
    try:
        page.open("/c/local/storage")
        page.wait('[data-pool="default"]')
        page.fill("#new-volume-name", VOL)
        page.fill("#new-volume-size", 1)
        page.select("#new-volume-format", "qcow2")
        page.click("#new-volume-create")
        page.wait(f'[data-volume="{VOL}"]')
        vols = {v["name"]: v for v in corral.api_ok("GET", "/connections/local/pools/default/volumes")}
        assert vols[VOL]["format"] == "qcow2" and vols[VOL]["capacity"] > 0
        shot("storage")
    finally:
        corral.api("DELETE", f"/connections/local/pools/default/volumes/{VOL}")


def test_networks_page_creates_nat_network(page, corral, shot):
    try:
        page.open("/c/local/networks")
        page.wait("#new-network-create")
        page.fill("#new-network-name", NET)
        page.select("#new-network-forward", "nat")
        page.fill("#new-network-ipv4", "192.168.150.1/24")
        page.click("#new-network-create")
        page.wait(f'[data-network="{NET}"]')
        net = corral.api_ok("GET", "/connections/local/networks")
        mine = next(n for n in net if n["name"] == NET)
        assert mine["forward"] == "nat" and mine["ip"] == "192.168.150.1"
        shot("networks")
    finally:
        corral.api("POST", f"/connections/local/networks/{NET}/destroy")
        corral.api("DELETE", f"/connections/local/networks/{NET}")
