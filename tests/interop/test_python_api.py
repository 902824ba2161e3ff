"""Debian's python3-libvirt (the C library's remote driver underneath) against the daemon."""
import threading

import pytest

from daemons import wait_ready, wait_until

libvirt = pytest.importorskip("libvirt", reason="python3-libvirt missing: run with /usr/bin/python3 after scripts/setup.sh")

_event_loop = None


def event_loop():
    """The default event implementation must be registered before a connection is opened; one
    thread runs it for the whole session (it cannot be unregistered)."""
    global _event_loop
    if _event_loop is None:
        libvirt.virEventRegisterDefaultImpl()

        def run():
            while True:
                libvirt.virEventRunDefaultImpl()
        _event_loop = threading.Thread(target=run, daemon=True, name="libvirt-events")
        _event_loop.start()


def test_python_binding(daemon, guest):
    event_loop()
    conn = libvirt.open(daemon.uri)
    try:
        assert conn.getType() == "QEMU"
        assert guest not in [d.name() for d in conn.listAllDomains()]
        events = []
        cb = conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                         lambda c, dom, event, detail, opaque: events.append((dom.name(), event, detail)),
                                         None)
        try:
            dom = conn.defineXML(daemon.domain_xml(guest))
            assert dom.name() == guest and len(dom.UUIDString()) == 36
            assert guest in [d.name() for d in conn.listAllDomains()]
            assert guest in [d.name() for d in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_INACTIVE)]
            assert dom.info()[0] == libvirt.VIR_DOMAIN_SHUTOFF
            assert dom.isActive() == 0 and dom.isPersistent() == 1

            assert dom.create() == 0
            st, maxmem, mem, ncpu, cputime = dom.info()
            assert st == libvirt.VIR_DOMAIN_RUNNING and maxmem == 262144 and ncpu == 1
            assert dom.ID() > 0
            assert guest in [d.name() for d in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)]
            xml = dom.XMLDesc(0)
            assert f"<name>{guest}</name>" in xml and "<kernel>" in xml
            wait_ready(daemon, guest)
            assert dom.info()[4] > 0  # CPU time advanced

            assert dom.destroy() == 0
            assert dom.info()[0] == libvirt.VIR_DOMAIN_SHUTOFF
            want = [(guest, libvirt.VIR_DOMAIN_EVENT_STARTED, libvirt.VIR_DOMAIN_EVENT_STARTED_BOOTED),
                    (guest, libvirt.VIR_DOMAIN_EVENT_STOPPED, libvirt.VIR_DOMAIN_EVENT_STOPPED_DESTROYED)]
            wait_until(lambda: all(w in events for w in want), 15, f"lifecycle events {want}; got {events}")
            assert events.index(want[0]) < events.index(want[1])

            dom.undefine()
            assert guest not in [d.name() for d in conn.listAllDomains()]
            with pytest.raises(libvirt.libvirtError) as e:
                conn.lookupByName(guest)
            assert e.value.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN
            gone = (guest, libvirt.VIR_DOMAIN_EVENT_UNDEFINED, libvirt.VIR_DOMAIN_EVENT_UNDEFINED_REMOVED)
            wait_until(lambda: gone in events, 15, f"the undefine event; got {events}")
        finally:
            conn.domainEventDeregisterAny(cb)
    finally:
        conn.close()


def test_python_readonly(daemon, guest):
    conn = libvirt.openReadOnly(daemon.uri_ro)
    try:
        with pytest.raises(libvirt.libvirtError) as e:
            conn.defineXML(daemon.domain_xml(guest))
        assert e.value.get_error_code() == libvirt.VIR_ERR_OPERATION_DENIED
        assert "read only access prevents virDomainDefineXML" in str(e.value)
        conn.listAllDomains()
    finally:
        conn.close()
