"""``tweeling serve --workers N``: the shared listening socket."""

import asyncio
import socket

from tweeling.api.server_processes import tcp_listener


def test_connections_accepted_by_the_worker_processes_send_responses_without_delay():
    """A connection accepted on the shared socket gets TCP_NODELAY, as uvicorn's one-process
    server gives it; without it every keep-alive response after the first waits ~40 ms for
    the client's delayed ACK (uvicorn issue #3149)."""
    sock = tcp_listener("127.0.0.1", 0)
    port = sock.getsockname()[1]
    seen: list[int] = []

    async def main() -> None:
        async def handle(reader, writer):
            conn = writer.get_extra_info("socket")
            seen.append(conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(handle, sock=sock)
        async with server:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            for _ in range(100):
                if seen:
                    break
                await asyncio.sleep(0.01)
            writer.close()

    asyncio.run(main())
    assert seen and seen[0] != 0


def test_a_taken_port_is_refused_and_the_socket_closed():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        try:
            tcp_listener("127.0.0.1", port)
        except OSError as e:
            assert e.errno is not None
        else:
            raise AssertionError("a second listener on a taken port")
