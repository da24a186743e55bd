"""kombu's Redis transport with one repair: what a worker held when Redis went away is queued again on reconnect.

kombu pops a message (BRPOP), records it as unacknowledged (the `unacked` hash), and puts a worker's own unacknowledged
messages back on the queue when its channel closes. When Redis goes away, both steps can fail: a message popped just
before cannot be recorded and is dropped, and the restore on close cannot reach Redis (kombu 5.7 then fails with
AttributeError on the half-closed connection, which stops the worker). The recorded ones would wait for the
visibility timeout, an hour; the others would be lost. Here each such message is kept in memory and queued again as
soon as the next connection starts consuming. Tasks are idempotent: a message queued again after its task had in fact
finished only repeats work.

Celery uses this transport through `broker_transport` (service/pipeline/celery.py).
"""

from __future__ import annotations

import time
from typing import Any, cast

import structlog
from kombu.transport import redis as kombu_redis
from kombu.utils.json import dumps

__all__ = ["Transport"]

log = structlog.get_logger("toh.broker")

# This process's messages that are neither acknowledged nor back on their queue: delivery tag -> the record kombu keeps
# in its `unacked` hash ([message, exchange, routing key]). The next channel that consumes queues them again.
_abandoned: dict[str, list[Any]] = {}


def _record(message: Any) -> list[Any]:
    return [message._raw, message.delivery_info["exchange"], message.delivery_info["routing_key"]]


class QoS(kombu_redis.QoS):
    def append(self, message: Any, delivery_tag: str) -> None:
        try:
            super().append(message, delivery_tag)
        except Exception:  # popped but not recorded: without this it would be lost
            _abandoned[delivery_tag] = _record(message)
            raise

    def restore_unacked(self, client: Any = None) -> None:
        try:
            super().restore_unacked(client)
        except Exception as exc:  # Redis unreachable, or kombu's closing state
            delivered: dict[str, Any] = self._delivered or {}
            _abandoned.update((tag, _record(message)) for tag, message in delivered.items())
            log.warning("broker.restore_deferred", messages=len(delivered), error=type(exc).__name__)
            delivered.clear()

    def ack(self, delivery_tag: str) -> None:
        if not self._channel_gone():
            super().ack(delivery_tag)

    def reject(self, delivery_tag: str, requeue: bool = False) -> None:
        if not self._channel_gone():
            super().reject(delivery_tag, requeue=requeue)

    def _channel_gone(self) -> bool:
        """A task that ends after its channel closed cannot be acknowledged (kombu would fail with AttributeError);
        its message was restored on close, or will be on reconnect, and runs again."""
        return bool(self.channel.closed or self.channel.connection is None)


class Channel(kombu_redis.Channel):
    QoS = QoS

    def basic_consume(self, queue: str, *args: Any, **kwargs: Any) -> Any:
        if _abandoned:
            self._restore_abandoned()
        return super().basic_consume(queue, *args, **kwargs)

    def _restore_abandoned(self) -> None:
        count = len(_abandoned)
        with self.conn_or_acquire() as client:
            for tag, record in sorted(_abandoned.items()):
                # Recorded now if Redis never got it (kept findable by the visibility sweep should this process die),
                # then moved back to its queue in one transaction, as kombu restores.
                client.pipeline().hsetnx(self.unacked_key, tag, dumps(record)).zadd(
                    self.unacked_index_key, {tag: time.time()}, nx=True
                ).execute()
                cast(QoS, self.qos).restore_by_tag(tag, client)  # to the head of its queue: it came first
                del _abandoned[tag]
        log.info("broker.restored_after_reconnect", messages=count)


class Transport(kombu_redis.Transport):
    Channel = Channel
