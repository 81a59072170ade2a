"""The provider emulators (devkit/emulators), started once for the session as a real
process on loopback, and gateways whose messaging touchpoints point at them."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass

import pytest

from devkit import services
from devkit.emulators.client import EmulatorClient
from tests.channels.email.mail import SmtpServer
from tests.gateway.conftest import gateway_factory  # noqa: F401 - a fixture of these tests too

PROVIDERS = ("twilio", "whatsapp", "messenger")


@dataclass
class Emulators:
    urls: dict[str, str]
    proc: subprocess.Popen[bytes]

    def client(self, name: str) -> EmulatorClient:
        return EmulatorClient(self.urls[name])


def start_emulators() -> Emulators:
    ports = dict(zip(PROVIDERS, services.free_ports(len(PROVIDERS)), strict=True))
    args = [a for name, port in ports.items() for a in (f"--{name}", str(port))]
    proc = subprocess.Popen([sys.executable, "-m", "devkit.emulators", *args], cwd=services.ROOT)
    for port in ports.values():
        services.wait_port(port, proc=proc)
    return Emulators({n: f"http://127.0.0.1:{p}" for n, p in ports.items()}, proc)


@pytest.fixture(scope="session")
def emulators() -> Iterator[Emulators]:
    emu = start_emulators()
    try:
        yield emu
    finally:
        emu.proc.terminate()
        try:
            emu.proc.wait(10)
        except subprocess.TimeoutExpired:
            emu.proc.kill()
            emu.proc.wait()


async def fresh(emulators: Emulators, name: str) -> EmulatorClient:
    """A provider's emulator with nothing sent or configured, retrying a webhook soon."""
    client = emulators.client(name)
    await client.reset(configuration=True)
    await client.retries(0, 0.2, 0.4)
    return client


@pytest.fixture
async def twilio(emulators: Emulators) -> AsyncIterator[EmulatorClient]:
    yield await fresh(emulators, "twilio")


@pytest.fixture
async def whatsapp(emulators: Emulators) -> AsyncIterator[EmulatorClient]:
    yield await fresh(emulators, "whatsapp")


@pytest.fixture
async def messenger(emulators: Emulators) -> AsyncIterator[EmulatorClient]:
    yield await fresh(emulators, "messenger")


@pytest.fixture
async def smtp() -> AsyncIterator[SmtpServer]:
    """A real SMTP server (aiosmtpd) recording what it is sent, for this test."""
    server = SmtpServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


StartGateway = Callable[..., services.GatewayProcess]
