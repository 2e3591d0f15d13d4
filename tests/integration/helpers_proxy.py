"""A TCP proxy on 127.0.0.1 for tests that cut a connection at a chosen moment (a lost
COMMIT answer, a lost HTTP answer). Subclasses say what flows each way: `up` (client to
server) and `down` (server to client) run in a thread each per connection, and `cut`
ends both sockets, so the client sees the connection die."""
import socket
import threading


class TcpProxy:
    def __init__(self, target_port):
        self.target = target_port
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self):
        self.listener.close()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target))
            conn = {}
            threading.Thread(target=self.up, args=(client, server, conn), daemon=True).start()
            threading.Thread(target=self.down, args=(server, client, conn),
                             daemon=True).start()

    @staticmethod
    def cut(*socks):
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def up(self, client, server, conn):
        self.pipe(client, server)

    def down(self, server, client, conn):
        self.pipe(server, client)

    def pipe(self, src, dst, each=None):
        """Forward everything until either side ends, then end both; `each`, when given,
        sees every chunk and returns what to forward in its place."""
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(each(data) if each else data)
        except OSError:
            pass
        self.cut(src, dst)
