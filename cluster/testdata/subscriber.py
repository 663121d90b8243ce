# An Autobahn|Python subscriber for the cluster tests: it joins realm1 at
# the URL in argv[1], subscribes to argv[2], prints "ready", then prints
# each event it gets as a JSON line until it has argv[3] of them, and
# leaves.
import asyncio
import json
import sys

from autobahn.asyncio.wamp import ApplicationSession, ApplicationRunner
from autobahn.wamp.types import SubscribeOptions

URL, TOPIC, COUNT = sys.argv[1], sys.argv[2], int(sys.argv[3])


class Subscriber(ApplicationSession):
    async def onJoin(self, details):
        self.seen = 0

        def on_event(*args, **kwargs):
            d = kwargs.pop("details")
            print(json.dumps({"args": list(args), "kwargs": kwargs, "publisher": d.publisher,
                              "publication": d.publication, "topic": d.topic}), flush=True)
            self.seen += 1
            if self.seen == COUNT:
                self.leave()

        await self.subscribe(on_event, TOPIC, options=SubscribeOptions(details_arg="details", match="prefix"))
        print("ready", flush=True)

    def onDisconnect(self):
        asyncio.get_event_loop().stop()


ApplicationRunner(URL, "realm1").run(Subscriber)
