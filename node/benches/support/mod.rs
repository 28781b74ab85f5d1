//! What the benchmarks that serve a node's API in their own process share: the node itself.
//! The testkit's `BenchNode` runs any node; opening a `tally_node::Node` and serving its API is
//! here, since the testkit does not depend on the node (no cycle in `cargo tree`).

use tally_testkit::bench::BenchNode;
use tokio::runtime::Runtime;

/// The demo manufacturer's node, in this process, its API on a free port.
pub fn bench_node(runtime: &Runtime) -> BenchNode<tally_node::Node> {
    BenchNode::start(
        runtime,
        |config, dir| {
            let config = tally_node::config::UserConfig::from_file(config)
                .unwrap()
                .validate(dir)
                .unwrap();
            tally_node::Node::open(config).unwrap()
        },
        |node, listener, stop| {
            tally_node::api::serve(listener, node.api_state(), async {
                let _ = stop.await;
            })
        },
    )
}
