//! What the in-process benchmarks share: the manufacturer's node of the demo consortium in a
//! temporary directory, its API served on a free port of 127.0.0.1, and the token they call it
//! with. The benchmark opens the node and serves its API with the node's own functions: this
//! crate does not depend on `tally-node`, whose tests and benchmarks use it.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;

use tokio::net::TcpListener;
use tokio::runtime::Runtime;
use tokio::sync::oneshot;

/// The member-scope token of [`BenchNode`].
pub const BENCH_TOKEN: &str = "0123456789abcdef0123456789abcdef-bench";

/// A node serving its API on a free port; its server stopped by [`BenchNode::stop`].
pub struct BenchNode<N> {
    _dir: tempfile::TempDir,
    /// The node.
    pub node: N,
    /// Where its API listens.
    pub addr: SocketAddr,
    stop_server: oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl<N> BenchNode<N> {
    /// Writes the demo manufacturer's node directory (with [`BENCH_TOKEN`]) into a temporary
    /// directory, opens the node with `open` (given the config file and the directory), and
    /// serves its API with `serve` (given the node, a listener on a free port, and the signal
    /// to stop on).
    pub fn start<S>(
        runtime: &Runtime,
        open: impl FnOnce(&Path, &Path) -> N,
        serve: impl FnOnce(&N, TcpListener, oneshot::Receiver<()>) -> S,
    ) -> Self
    where
        S: Future<Output = std::io::Result<()>> + Send + 'static,
    {
        let dir = tempfile::tempdir().unwrap();
        let config = super::demo_node_dir(
            dir.path(),
            &format!(
                "[[tokens]]\nname = \"bench\"\nsecret = \"{BENCH_TOKEN}\"\nscope = \"member\"\n"
            ),
        );
        let node = open(&config, dir.path());
        let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop_server, stopped) = oneshot::channel::<()>();
        let server = runtime.spawn(serve(&node, listener, stopped));
        Self {
            _dir: dir,
            node,
            addr,
            stop_server,
            server,
        }
    }

    /// Stops the server (clients must have closed their connections) and hands the node back,
    /// for the benchmark to shut down.
    pub fn stop(self, runtime: &Runtime) -> N {
        let _ = self.stop_server.send(());
        runtime.block_on(self.server).unwrap().unwrap();
        self.node
    }
}
