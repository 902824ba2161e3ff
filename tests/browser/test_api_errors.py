"""The JSON error shape through the real corrald: {"error": {"code", "domain", "message"}} with
libvirt's numbers and an HTTP status that says what went wrong (the Swift API tests cover every
endpoint; this checks the daemon a browser talks to)."""
import pytest

# libvirt's virErrorNumber values (virterror.h; python3-libvirt has the same constants).
VIR_ERR_XML_ERROR = 27
VIR_ERR_OPERATION_DENIED = 29
VIR_ERR_XML_DETAIL = 35
VIR_ERR_NO_DOMAIN = 42


def error_of(r, status):
    assert r.status == status, r
    assert "json" in (r.headers.get("Content-Type") or ""), f"{r}: Content-Type {r.headers.get('Content-Type')}"
    err = r.json()["error"]
    assert isinstance(err["code"], int) and isinstance(err["domain"], int), err
    assert isinstance(err["message"], str) and err["message"], err
    return err


def test_unknown_domain(corral):
    err = error_of(corral.api("GET", "/connections/local/domains/no-such-guest"), 404)
    assert err["code"] == VIR_ERR_NO_DOMAIN and "no-such-guest" in err["message"]
    error_of(corral.api("POST", "/connections/local/domains/no-such-guest/start"), 404)


def test_bad_xml(corral):
    err = error_of(corral.api("POST", "/connections/local/domains", xml="<domain type='qemu'><name>x</name"), 400)
    assert "xml" in err["message"].lower() or "parse" in err["message"].lower(), err
    assert err["code"] in (VIR_ERR_XML_ERROR, VIR_ERR_XML_DETAIL), err


def test_unknown_connection(corral):
    error_of(corral.api("GET", "/connections/no-such-connection/domains"), 404)


@pytest.fixture
def readonly_conn(corral):
    r = corral.api("POST", "/connections", body={"uri": corral.uri_ro, "readOnly": True})
    assert r.status == 201, r
    conn = r.json()
    yield conn["id"]
    corral.api("DELETE", f"/connections/{conn['id']}")


def test_read_only_connection_refuses_changes(corral, readonly_conn, tiny):
    assert corral.api("GET", f"/connections/{readonly_conn}/domains").status == 200
    xml = open(tiny["xml"]).read().replace("<name>tiny</name>", "<name>ro-refused</name>")
    err = error_of(corral.api("POST", f"/connections/{readonly_conn}/domains", xml=xml), 403)
    assert err["code"] == VIR_ERR_OPERATION_DENIED and "read only" in err["message"], err
    assert corral.api("GET", "/connections/local/domains/ro-refused").status == 404
