#!/usr/bin/python3
"""Autobahn|Python over TLS, run by TestAutobahnTLS:

    autobahn_tls.py wss://127.0.0.1:PORT/ws CA.pem

joins realm1 (over wss://, trusting CA.pem), receives its own event
of 100,000 bytes (several TLS records) and calls its own procedure, then
prints "OK <event length> <call result>" and leaves.
"""

import asyncio
import ssl
import sys

from autobahn.asyncio.wamp import ApplicationRunner, ApplicationSession
from autobahn.wamp.types import PublishOptions

url, cafile = sys.argv[1], sys.argv[2]
ctx = ssl.create_default_context(cafile=cafile)


class Session(ApplicationSession):
    async def onJoin(self, details):
        got = asyncio.get_running_loop().create_future()
        await self.subscribe(lambda payload: got.done() or got.set_result(payload), "com.test.tls")
        await self.publish("com.test.tls", "x" * 100000, options=PublishOptions(exclude_me=False, acknowledge=True))
        payload = await asyncio.wait_for(got, 30)
        await self.register(lambda a: a * 2, "com.test.double")
        result = await self.call("com.test.double", 21)
        print("OK", len(payload), result, flush=True)
        self.leave()

    def onDisconnect(self):
        asyncio.get_running_loop().stop()


ApplicationRunner(url, "realm1", ssl=ctx).run(Session)
