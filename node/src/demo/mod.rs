//! The demo consortium (`tally demo`): the five members of the embedded demo genesis as five
//! local nodes, each with its own data directory, HTTP API and libp2p listener on free ports of
//! 127.0.0.1, replicating to each other; the C2M story of [`scenario`] recorded on them; and
//! `DIR/demo.json` saying where everything is, once every node holds every chain and every
//! entry is witnessed. The network runs until Ctrl-C.
//!
//! Layout of `DIR`: `genesis.toml`, `keys/<member>.key` (demo keys), `<member>/node.toml` (a
//! node's configuration, rewritten at each start with that start's bootstrap addresses),
//! `<member>/data`, `demo.json`. Run again on the same directory, the nodes reopen their data
//! and the story is not recorded twice.

pub mod scenario;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;
use tally_sdk::hash::EntryHash;
use tally_sdk::ids::MemberId;
use tally_sdk::membership::consortium::Consortium;
use tally_sdk::membership::keyfile::MemberKeys;
use tally_sdk::membership::template::{DEMO_KEY_HEADER, demo_consortium};
use tally_sdk::time::Timestamp;
use tally_sdk::verify::Verifier;
use tokio::sync::watch;

use crate::config::{ConfigError, UserConfig};
use crate::replicate::net::Network;
use crate::store::Store;
use crate::witness::evidence::witnessing;
use crate::{Node, NodeError, api};

/// How long the demo waits for the nodes to connect and to agree before it goes on anyway
/// (saying so): a bound for a broken setup, not a pace.
const PATIENCE: Duration = Duration::from_secs(60);

/// How often the demo looks at the nodes while it waits for them.
const POLL: Duration = Duration::from_millis(50);

/// The demo could not run.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// A file or directory cannot be written or read.
    #[error("{path}: {source}")]
    Io {
        /// Where.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The directory holds another consortium.
    #[error(
        "{0} holds a genesis that is not the demo consortium's: use an empty directory or one an earlier `tally demo` made"
    )]
    OtherConsortium(PathBuf),
    /// The embedded demo consortium cannot be built (a bug).
    #[error("cannot build the demo consortium: {0}")]
    SharedConsortium(String),
    /// A node's configuration is invalid (a bug).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A node cannot start.
    #[error("the {member} node cannot start: {source}")]
    Node {
        /// Whose.
        member: String,
        /// Why.
        source: NodeError,
    },
    /// The async runtime or a task failed.
    #[error("{0}")]
    Runtime(String),
    /// The story could not be recorded.
    #[error(transparent)]
    Scenario(#[from] scenario::StepError),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DemoError + '_ {
    move |source| DemoError::Io {
        path: path.to_owned(),
        source,
    }
}

/// One node as `demo.json` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct DemoNode {
    /// The member.
    pub member: String,
    /// Its roles in the genesis.
    pub roles: Vec<String>,
    /// Its HTTP API.
    pub api_url: String,
    /// A member token of its API (a demo token, written in the node's config in clear).
    pub api_token: String,
    /// Its data directory.
    pub data_dir: PathBuf,
    /// Its libp2p address.
    pub p2p: String,
}

/// What `demo.json` holds.
#[derive(Debug, Clone, Serialize)]
pub struct DemoFile {
    /// The network id (hex).
    pub network: String,
    /// The genesis file.
    pub genesis: PathBuf,
    /// The nodes.
    pub nodes: Vec<DemoNode>,
    /// The story's products.
    pub products: Vec<DemoProduct>,
}

/// A product of the story in `demo.json`.
#[derive(Debug, Clone, Serialize)]
pub struct DemoProduct {
    /// Its GS1 Digital Link URI.
    pub digital_link: String,
    /// Its consumer page on the platform's node: what its QR label opens.
    pub page: String,
}

/// Makes the PNG of a QR label for a URL (the CLI's `tally qr`), or says why not.
pub type LabelMaker<'a> = &'a dyn Fn(&str) -> Result<Vec<u8>, String>;

/// The consumer page of `digital_link` on the node at `api_url`: the link's path there.
fn page_url(api_url: &str, digital_link: &str) -> String {
    let path = digital_link
        .strip_prefix("https://id.gs1.org")
        .unwrap_or(digital_link);
    format!("{api_url}{path}")
}

/// Starts logging to stderr with the tracing filter `filter` (e.g. `warn`, `info`).
pub fn init_logging(filter: &str) -> Result<(), DemoError> {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .map_err(|e| DemoError::Runtime(format!("{filter:?} is not a log filter: {e}")))?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init()
        .map_err(|e| DemoError::Runtime(format!("cannot start logging: {e}")))
}

/// The demo token of `member`'s node (public on purpose: demo only).
fn demo_token(member: &str) -> String {
    format!("demo-token-{member}-not-a-secret-0123456789")
}

/// Writes the genesis and keys into `dir` (or checks the genesis there is the demo's).
fn prepare(dir: &Path) -> Result<(Consortium, Vec<MemberKeys>), DemoError> {
    let (signed, keys) =
        demo_consortium().map_err(|e| DemoError::SharedConsortium(e.to_string()))?;
    let text = signed
        .to_toml("# Tally DEMO genesis (demo keys, not for real data); written by `tally demo`.\n")
        .map_err(|e| DemoError::SharedConsortium(e.to_string()))?;
    let genesis = signed
        .verify()
        .map_err(|e| DemoError::SharedConsortium(e.to_string()))?;
    let path = dir.join("genesis.toml");
    if path.exists() {
        let existing = std::fs::read_to_string(&path).map_err(io(&path))?;
        match Consortium::from_toml(&existing) {
            Ok(found) if found.network_id() == genesis.network_id() => {}
            _ => return Err(DemoError::OtherConsortium(dir.to_owned())),
        }
    } else {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        std::fs::write(&path, text).map_err(io(&path))?;
    }
    let key_dir = dir.join("keys");
    std::fs::create_dir_all(&key_dir).map_err(io(&key_dir))?;
    for member in &keys {
        let path = key_dir.join(format!("{}.key", member.member));
        std::fs::write(&path, member.to_toml(DEMO_KEY_HEADER)).map_err(io(&path))?;
    }
    Ok((genesis, keys))
}

/// Writes `member`'s node configuration (API and p2p on free ports, bootstrapping from
/// `peers`) and opens the node.
fn open_node(dir: &Path, member: &str, peers: &[String]) -> Result<Node, DemoError> {
    let home = dir.join(member);
    std::fs::create_dir_all(&home).map_err(io(&home))?;
    let bootstrap: Vec<String> = peers.iter().map(|p| format!("{p:?}")).collect();
    let text = format!(
        "# The {member} node of `tally demo` (rewritten at each start).\n\
         data_dir = \"data\"\ngenesis = \"../genesis.toml\"\nkey_file = \"../keys/{member}.key\"\n\
         [api]\nlisten = \"127.0.0.1:0\"\n\
         [p2p]\nlisten = [\"/ip4/127.0.0.1/tcp/0\"]\nbootstrap = [{}]\n\
         [[tokens]]\nname = \"demo\"\nsecret = \"{}\"\nscope = \"member\"\n",
        bootstrap.join(", "),
        demo_token(member)
    );
    let path = home.join("node.toml");
    std::fs::write(&path, text).map_err(io(&path))?;
    // The environment's TALLY_* variables are not applied: they would set all five alike.
    let config = UserConfig::from_file(&path)?.validate(&home)?;
    Node::open(config).map_err(|source| DemoError::Node {
        member: member.to_owned(),
        source,
    })
}

/// A node of the demo, running.
struct Running {
    node: Node,
    network: Network,
    api_url: String,
    p2p: String,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Waits until `ready` holds, looking every [`POLL`], at most [`PATIENCE`]; whether it held.
async fn wait_until(mut ready: impl FnMut() -> bool) -> bool {
    let give_up = Instant::now() + PATIENCE;
    while !ready() {
        if Instant::now() > give_up {
            return false;
        }
        tokio::time::sleep(POLL).await;
    }
    true
}

async fn start_node(
    dir: &Path,
    member: &str,
    peers: &[String],
    stop: &watch::Receiver<bool>,
) -> Result<Running, DemoError> {
    let failed = |source: NodeError| DemoError::Node {
        member: member.to_owned(),
        source,
    };
    let mut node = open_node(dir, member, peers)?;
    let network = node.start_network().map_err(failed)?;
    let address = node.config().api_listen;
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|e| DemoError::Runtime(format!("the {member} node cannot listen: {e}")))?;
    let bound = listener
        .local_addr()
        .map_err(|e| DemoError::Runtime(format!("the {member} node cannot listen: {e}")))?;
    let mut stopped = stop.clone();
    let server = tokio::spawn(api::serve(listener, node.api_state(), async move {
        let _ = stopped.changed().await;
    }));
    let handle = network.handle().clone();
    if !wait_until(|| !handle.status().listen.is_empty()).await {
        return Err(DemoError::Runtime(format!(
            "the {member} node does not listen for peers"
        )));
    }
    let p2p = handle.status().listen.first().cloned().unwrap_or_default();
    Ok(Running {
        node,
        network,
        api_url: format!("http://{bound}"),
        p2p,
        server,
    })
}

/// Whether every node holds the same heads.
fn agree(nodes: &[Running]) -> bool {
    let mut heads = nodes.iter().map(|r| {
        r.node
            .store()
            .heads()
            .map(|h| {
                h.into_iter()
                    .map(|h| (h.author, h.tip.seq, h.tip.hash))
                    .collect::<Vec<_>>()
            })
            .ok()
    });
    let Some(Some(first)) = heads.next() else {
        return false;
    };
    heads.all(|h| h.as_ref() == Some(&first))
}

/// Whether every node shows every chain head it holds as witnessed (an honest witness states
/// a chain from its start, so the heads being witnessed means every entry is).
fn witnessed(nodes: &[Running], genesis: &Consortium) -> bool {
    let verifier = Verifier::new(genesis, Timestamp::now());
    nodes.iter().all(|r| {
        let store = r.node.store();
        let Ok(heads) = store.heads() else {
            return false;
        };
        heads.iter().all(|head| {
            matches!(
                witnessing(r.node.book(), store.as_ref(), &verifier, &head.tip.hash),
                Ok(Some(found)) if found.witnessed
            )
        })
    })
}

/// Runs the demo in `dir` until `stop` completes (Ctrl-C for `tally demo`); prints what it
/// does on stdout.
pub fn run(
    dir: &Path,
    stop: impl std::future::Future<Output = ()>,
    label: LabelMaker<'_>,
) -> Result<(), DemoError> {
    let (genesis, keys) = prepare(dir)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| DemoError::Runtime(format!("cannot start the async runtime: {e}")))?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut nodes: Vec<Running> = Vec::new();
    let outcome = runtime.block_on(async {
        for member in &keys {
            let peers: Vec<String> = nodes.iter().map(|n| n.p2p.clone()).collect();
            let running = start_node(dir, member.member.as_str(), &peers, &stop_rx).await?;
            println!(
                "started the {} node: API {}, p2p {}",
                member.member, running.api_url, running.p2p
            );
            nodes.push(running);
        }
        let everyone = nodes.len() - 1;
        let connected = wait_until(|| {
            nodes.iter().all(|n| {
                let status = n.network.handle().status();
                status.peers.iter().filter(|p| p.connected).count() == everyone
            })
        })
        .await;
        if !connected {
            println!("warning: not every node is connected to every other yet; going on");
        }
        let fresh = nodes
            .iter()
            .all(|n| n.node.store().heads().is_ok_and(|h| h.is_empty()));
        let products: Vec<String> = if fresh {
            println!("recording the story: a custom sofa from order to delivery ...");
            let writer = |member: &str| {
                nodes
                    .iter()
                    .position(|n| n.node.keys().member.as_str() == member)
                    .map(|i| nodes[i].node.committer().clone())
                    .ok_or_else(|| DemoError::Runtime(format!("no {member} node")))
            };
            let (platform, supplier, manufacturer, logistics) = (
                writer("platform")?,
                writer("supplier")?,
                writer("manufacturer")?,
                writer("logistics")?,
            );
            let products = tokio::task::spawn_blocking(move || {
                scenario::play(
                    scenario::Writers {
                        platform: &platform,
                        supplier: &supplier,
                        manufacturer: &manufacturer,
                        logistics: &logistics,
                    },
                    Timestamp::now(),
                )
            })
            .await
            .map_err(|e| DemoError::Runtime(e.to_string()))??;
            products.into_iter().map(str::to_owned).collect()
        } else {
            println!("the nodes reopened their data; the story is recorded already");
            vec![scenario::SOFA.to_owned(), scenario::LINEN_LOT.to_owned()]
        };
        if !wait_until(|| agree(&nodes)).await {
            println!("warning: the nodes do not hold the same chains yet; going on");
        }
        if wait_until(|| witnessed(&nodes, &genesis)).await {
            println!("every entry is witnessed: checkpoints of a quorum of members vouch for it");
        } else {
            println!("warning: not every entry is witnessed yet; going on");
        }
        let file = DemoFile {
            network: genesis.network_id().to_hex(),
            genesis: dir.join("genesis.toml"),
            nodes: nodes
                .iter()
                .map(|n| {
                    let member = n.node.keys().member.clone();
                    let roles = genesis
                        .member(&member)
                        .map(|m| m.roles.iter().map(|r| r.to_string()).collect())
                        .unwrap_or_default();
                    DemoNode {
                        member: member.to_string(),
                        roles,
                        api_url: n.api_url.clone(),
                        api_token: demo_token(member.as_str()),
                        data_dir: n.node.config().data_dir.clone(),
                        p2p: n.p2p.clone(),
                    }
                })
                .collect(),
            products: products
                .iter()
                .map(|link| DemoProduct {
                    page: page_url(&nodes[0].api_url, link),
                    digital_link: link.clone(),
                })
                .collect(),
        };
        // The sofa's QR label, which opens its page on the platform's node.
        let label_file = dir.join("sofa-label.png");
        let label_written = match file.products.first().map(|p| label(&p.page)) {
            Some(Ok(png)) => std::fs::write(&label_file, png)
                .map_err(io(&label_file))
                .map(|()| true)?,
            Some(Err(why)) => {
                println!("warning: no QR label: {why}");
                false
            }
            None => false,
        };
        let path = dir.join("demo.json");
        let json =
            serde_json::to_string_pretty(&file).map_err(|e| DemoError::Runtime(e.to_string()))?;
        std::fs::write(&path, json + "\n").map_err(io(&path))?;
        // The story's first entry: the platform's record of the consumer's order.
        let order = nodes.first().and_then(|r| {
            let platform = MemberId::new("platform").ok()?;
            let first = r.node.store().chain_range(&platform, 0, 1).ok()?;
            first.into_iter().next().map(|(hash, _)| hash)
        });
        print_guide(
            &file,
            &path,
            order,
            label_written.then_some(label_file.as_path()),
        );
        stop.await;
        println!("stopping the nodes ...");
        Ok::<(), DemoError>(())
    });
    let _ = stop_tx.send(true);
    runtime.block_on(async {
        for running in &mut nodes {
            match (&mut running.server).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "a demo API server failed"),
                Err(e) => tracing::error!(error = %e, "a demo API server task failed"),
            }
        }
    });
    let mut stopped = Vec::new();
    for running in nodes {
        runtime.block_on(running.network.stop());
        stopped.push(running.node);
    }
    runtime.shutdown_timeout(Duration::from_secs(10));
    for node in stopped {
        node.shutdown();
    }
    if outcome.is_ok() {
        println!(
            "stopped; everything acknowledged is stored in {}",
            dir.display()
        );
    }
    outcome
}

fn print_guide(file: &DemoFile, path: &Path, order: Option<EntryHash>, label: Option<&Path>) {
    // The commands name this very binary, so they work when pasted without installing it.
    let tally = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "tally".to_owned());
    let genesis = file.genesis.display();
    println!();
    println!(
        "The demo consortium runs: {} nodes (Ctrl-C stops them).",
        file.nodes.len()
    );
    for node in &file.nodes {
        println!(
            "  {:<13} {}/health   token {}",
            node.member, node.api_url, node.api_token
        );
    }
    let find = |member: &str| file.nodes.iter().find(|n| n.member == member);
    let (Some(regulator), Some(manufacturer), Some(sofa)) = (
        find("regulator"),
        find("manufacturer"),
        file.products.first(),
    ) else {
        println!();
        println!("{} lists every node, token and product.", path.display());
        return;
    };
    let auth = |node: &DemoNode| format!("-H 'Authorization: Bearer {}'", node.api_token);
    let sofa_id = tally_sdk::gs1::digital_link::percent_encode(&sofa.digital_link);
    println!();
    println!(
        "1. The consumer's page of the custom sofa (what its QR label opens): open it in a browser"
    );
    println!("  {}", sofa.page);
    if let Some(label) = label {
        println!("2. The sofa's QR label, to print or scan:");
        println!("  {}", label.display());
    }
    println!(
        "3. Who is responsible for what, and the evidence bundle anyone checks offline (from the {} node):",
        regulator.member
    );
    println!(
        "  curl -fsS {} {}/v1/products/{sofa_id}/responsibility",
        auth(regulator),
        regulator.api_url
    );
    println!(
        "  curl -fsS {} {}/v1/products/{sofa_id}/evidence > sofa-evidence.json",
        auth(regulator),
        regulator.api_url
    );
    println!("  {tally} verify sofa-evidence.json --genesis {genesis}");
    let second = "https://id.gs1.org/01/09506000134352/21/C2M-0002";
    println!(
        "4. Record an event on the manufacturer's node (a second sofa), and see it in its history:"
    );
    let event = serde_json::json!({
        "type": "ObjectEvent", "action": "ADD", "bizStep": "commissioning",
        "disposition": "active", "epcList": [second],
        "eventTime": tally_sdk::time::Timestamp::now().to_rfc3339(),
        "eventTimeZoneOffset": "+00:00",
    });
    println!(
        "  curl -fsS {} -H 'Content-Type: application/json' {}/v1/events -d '{event}'",
        auth(manufacturer),
        manufacturer.api_url
    );
    println!(
        "  curl -fsS {} {}/v1/products/{}/history",
        auth(manufacturer),
        manufacturer.api_url,
        tally_sdk::gs1::digital_link::percent_encode(second)
    );
    if let Some(order) = order {
        println!("5. Is the consumer's order witnessed? The answer carries the evidence:");
        println!(
            "  curl -fsS {} {}/v1/entries/{order}/witness > witness.json",
            auth(regulator),
            regulator.api_url
        );
        println!("  {tally} witness verify witness.json --genesis {genesis}");
    }
    println!("Every node's chain heads (they agree):");
    println!(
        "  curl -fsS {} {}/v1/heads",
        auth(regulator),
        regulator.api_url
    );
    println!();
    println!("{} lists every node, token and product.", path.display());
}
