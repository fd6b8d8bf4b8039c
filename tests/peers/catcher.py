"""A plain local mail catcher (aiosmtpd, no TLS) that keeps what it receives,
and can be told to answer 451 (provider trouble) for a while."""
import email
import email.policy
import threading

from aiosmtpd.controller import Controller


class Catcher:
    def __init__(self, port):
        self.messages = []
        self.lock = threading.Lock()
        self.tempfail = False
        self.controller = Controller(self, hostname="127.0.0.1", port=port)

    async def handle_RCPT(self, server, session, envelope, address, options):  # noqa: N802
        if self.tempfail:
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        with self.lock:
            self.messages.append(envelope)
        return "250 2.0.0 caught"

    def start(self):
        self.controller.start()
        return self

    def stop(self):
        self.controller.stop()

    def parsed(self):
        """Received messages as email.message.EmailMessage objects."""
        with self.lock:
            envs = list(self.messages)
        return [email.message_from_bytes(e.content, policy=email.policy.default) for e in envs]

    def count(self):
        with self.lock:
            return len(self.messages)
