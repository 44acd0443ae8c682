"""Turing Pi 2 BMC and smart plugs against HTTP servers implementing their documented APIs."""
from __future__ import annotations

import pytest

from console.power.base import PowerError, PowerState
from console.power.registry import Context, build_driver
from tests.lab.power_http import ShellyGen1, ShellyGen2, Tasmota, TuringPi, serve

ENV = {"ROOST_TEST_PW": "s3cret-pw"}


def driver(name, /, **table):
    return build_driver(name, table, Context(env=ENV))


# ---------------------------------------------------------------- Turing Pi 2

@pytest.fixture
def tpi(tmp_path):
    with serve(TuringPi(password="s3cret-pw"), tls=True, cert_dir=tmp_path) as dev:
        yield dev


def tpi_table(dev, slot, **extra):
    return {"driver": "turingpi", "url": dev.url, "node": slot, "password_env": "ROOST_TEST_PW",
            "verify_tls": False, **extra}


async def test_turingpi_on_off_touch_only_their_slot(tpi):
    n2 = driver("n2", **tpi_table(tpi, 2))
    n3 = driver("n3", **tpi_table(tpi, 3))
    await n2.on()
    assert tpi.device.power == {1: 0, 2: 1, 3: 0, 4: 0}
    assert (await n2.status(), await n3.status()) == (PowerState.ON, PowerState.OFF)
    await n3.on()
    await n2.off()
    assert tpi.device.power == {1: 0, 2: 0, 3: 1, 4: 0}
    assert "set power node2=1" in tpi.device.log


async def test_turingpi_reset_numbers_nodes_from_zero(tpi):
    n4 = driver("n4", **tpi_table(tpi, 4))
    await n4.reset()
    assert tpi.device.resets == [3]


async def test_turingpi_logs_in_again_when_the_token_expires(tpi):
    n1 = driver("n1", **tpi_table(tpi, 1))
    await n1.on()
    tpi.device.expire_tokens()
    assert await n1.status() is PowerState.ON


async def test_turingpi_self_signed_tls_only_when_configured(tpi):
    strict = driver("n1", **tpi_table(tpi, 1, verify_tls=True))
    with pytest.raises(PowerError, match=r"^node n1: power turingpi: BMC https://127.0.0.1:\d+: TLS certificate "
                                         r"not trusted \(set ca_file, or verify_tls = false"):
        await strict.status()
    pinned = driver("n1", **tpi_table(tpi, 1, verify_tls=True, ca_file=str(tpi.cert_file)))
    assert await pinned.status() is PowerState.OFF


async def test_turingpi_wrong_password(tpi):
    bad = build_driver("n1", tpi_table(tpi, 1), Context(env={"ROOST_TEST_PW": "nope-nope"}))
    with pytest.raises(PowerError) as e:
        await bad.on()
    assert str(e.value) == f"node n1: power turingpi: BMC {tpi.url}: login failed: HTTP 403 (wrong user or password)"
    assert tpi.device.power[1] == 0


async def test_turingpi_error_body_is_reported(tpi):
    n1 = driver("n1", **tpi_table(tpi, 1))
    with pytest.raises(PowerError, match=r"set power: HTTP 400: Invalid value `2` for parameter `node1`"):
        await n1._api(opt="set", type="power", node1="2")


async def test_turingpi_down():
    d = driver("n1", driver="turingpi", url="https://127.0.0.1:9", node=1, password_env="ROOST_TEST_PW",
               verify_tls=False, timeout=2.0)
    with pytest.raises(PowerError, match="cannot connect"):
        await d.status()


def test_turingpi_node_out_of_range():
    from console.power.base import PowerConfigError
    with pytest.raises(PowerConfigError, match=r"node n5: power.node: expected a value 1-4, got 5"):
        driver("n5", driver="turingpi", node=5, password_env="ROOST_TEST_PW")


# ---------------------------------------------------------------- plugs

async def test_tasmota_multi_relay_with_web_password():
    with serve(Tasmota(relays=4, password="s3cret-pw")) as dev:
        d = driver("n1", driver="plug", model="tasmota", url=dev.url, relay=3, password_env="ROOST_TEST_PW")
        await d.on()
        assert dev.device.relays == [False, False, True, False]
        assert await d.status() is PowerState.ON
        await d.off()
        assert dev.device.relays == [False] * 4
        wrong = build_driver("n1", {"driver": "plug", "model": "tasmota", "url": dev.url,
                                    "password_env": "P"}, Context(env={"P": "bad"}))
        with pytest.raises(PowerError) as e:
            await wrong.on()
        assert str(e.value) == f"node n1: power plug: plug {dev.url}: HTTP 401: wrong user or password"
        missing = driver("n1", driver="plug", model="tasmota", url=dev.url, relay=9, password_env="ROOST_TEST_PW")
        with pytest.raises(PowerError, match="Tasmota does not know Power9"):
            await missing.status()


async def test_tasmota_single_relay_answers_power_without_index():
    with serve(Tasmota(relays=1)) as dev:
        d = driver("n1", driver="plug", model="tasmota", url=dev.url)
        await d.on()
        assert await d.status() is PowerState.ON and dev.device.log[-1] == "Power1"


async def test_shelly_gen1_basic_auth_and_relays():
    with serve(ShellyGen1(relays=2, password="s3cret-pw")) as dev:
        d = driver("n1", driver="plug", model="shelly1", url=dev.url, relay=1, password_env="ROOST_TEST_PW")
        await d.on()
        assert dev.device.relays == [False, True]
        assert await d.status() is PowerState.ON
        nouser = driver("n1", driver="plug", model="shelly1", url=dev.url)
        with pytest.raises(PowerError, match="HTTP 401: wrong user or password"):
            await nouser.status()
        bad = driver("n1", driver="plug", model="shelly1", url=dev.url, relay=5, password_env="ROOST_TEST_PW")
        with pytest.raises(PowerError, match=r"/relay/5: HTTP 404"):
            await bad.off()
        assert dev.device.relays == [False, True]


async def test_shelly_gen2_rpc_with_digest_auth():
    with serve(ShellyGen2(switches=2, password="s3cret-pw")) as dev:
        d = driver("n1", driver="plug", model="shelly2", url=dev.url, relay=1, password_env="ROOST_TEST_PW")
        await d.on()
        assert dev.device.output == [False, True]
        await d.off()
        assert await d.status() is PowerState.OFF
        bad = driver("n1", driver="plug", model="shelly2", url=dev.url, relay=7, password_env="ROOST_TEST_PW")
        with pytest.raises(PowerError, match=r"HTTP 500: Argument 'id', value 7 not found!"):
            await bad.on()
        wrong = build_driver("n1", {"driver": "plug", "model": "shelly2", "url": dev.url,
                                    "password_env": "P"}, Context(env={"P": "bad"}))
        with pytest.raises(PowerError, match="HTTP 401: wrong user or password"):
            await wrong.status()


# ---------------------------------------------------------------- the tpi CLI instead of HTTP

@pytest.fixture
def tpi_cli(tmp_path):
    import sys

    from tests.conftest import ROOT
    from tests.lab.power_tpi import install
    return install(tmp_path / "tpi", ROOT, sys.executable)


async def test_tpi_cli_power_with_the_password_in_its_environment(tpi, tpi_cli):
    table = {"driver": "turingpi", "use": "tpi", "tpi": tpi_cli, "url": tpi.url, "node": 3,
             "password_env": "ROOST_TEST_PW"}
    d = driver("n3", **table)
    assert await d.status() is PowerState.OFF
    await d.on()
    assert tpi.device.power == {1: 0, 2: 0, 3: 1, 4: 0} and await d.status() is PowerState.ON
    await d.reset()
    assert tpi.device.resets == [2]
    bad = build_driver("n3", table, Context(env={"ROOST_TEST_PW": "wrong-one"}))
    with pytest.raises(PowerError, match=r"^node n3: power turingpi: tpi .*power on --node 3: "):
        await bad.on()
    assert tpi.device.power[3] == 1


def test_via_is_refused_where_the_device_is_reached_directly():
    from console.power.base import PowerConfigError
    with pytest.raises(PowerConfigError, match="node n1: power.via: plug talks to its device from the console's host"):
        driver("n1", driver="plug", model="tasmota", url="http://127.0.0.1:9", via="ctl")
