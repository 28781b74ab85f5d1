//! What the in-process benchmarks share: the manufacturer's node of the demo consortium with
//! its API served on a free port of 127.0.0.1, and the token they call it with.

use std::net::SocketAddr;

use tally_node::Node;
use tally_node::config::{Config, UserConfig};
use tokio::net::TcpListener;
use tokio::runtime::Runtime;
use tokio::sync::oneshot;

/// The member-scope token of [`BenchNode`].
pub const BENCH_TOKEN: &str = "0123456789abcdef0123456789abcdef-bench";

/// A node serving its API on a free port; stopped (server, then writer) by [`BenchNode::stop`].
pub struct BenchNode {
    _dir: tempfile::TempDir,
    /// The node.
    pub node: Node,
    /// Where its API listens.
    pub addr: SocketAddr,
    stop_server: oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl BenchNode {
    /// Starts the manufacturer's node of the demo consortium in a temporary directory.
    pub fn start(runtime: &Runtime) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = super::demo_node_dir(
            dir.path(),
            &format!(
                "[[tokens]]\nname = \"bench\"\nsecret = \"{BENCH_TOKEN}\"\nscope = \"member\"\n"
            ),
        );
        let config: Config = UserConfig::from_file(&path)
            .unwrap()
            .validate(dir.path())
            .unwrap();
        let node = Node::open(config).unwrap();
        let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop_server, stopped) = oneshot::channel::<()>();
        let server = runtime.spawn(tally_node::api::serve(listener, node.api_state(), async {
            let _ = stopped.await;
        }));
        Self {
            _dir: dir,
            node,
            addr,
            stop_server,
            server,
        }
    }

    /// Stops the server (clients must have closed their connections), then the node.
    pub fn stop(self, runtime: &Runtime) {
        let _ = self.stop_server.send(());
        runtime.block_on(self.server).unwrap().unwrap();
        self.node.shutdown();
    }
}
