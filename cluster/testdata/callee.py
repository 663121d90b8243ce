# An Autobahn|Python callee for the cluster tests: it joins realm1 at the
# URL in argv[1], registers com.example.py.add (disclosing the caller),
# com.example.py.fail (an application error with args and kwargs) and
# com.example.py.stop (leaves), then prints "ready".
import asyncio
import sys

from autobahn.asyncio.wamp import ApplicationSession, ApplicationRunner
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import RegisterOptions


class Callee(ApplicationSession):
    async def onJoin(self, details):
        def add(a, b, details=None):
            return {"sum": a + b, "caller": details.caller}

        def fail():
            raise ApplicationError("com.example.error.py", "failed", 7, reason="on purpose")

        def stop():
            asyncio.get_event_loop().call_soon(self.leave)
            return "bye"

        await self.register(add, "com.example.py.add", options=RegisterOptions(details_arg="details", disclose_caller=True))
        await self.register(fail, "com.example.py.fail")
        await self.register(stop, "com.example.py.stop")
        print("ready", flush=True)

    def onDisconnect(self):
        asyncio.get_event_loop().stop()


ApplicationRunner(sys.argv[1], "realm1").run(Callee)
