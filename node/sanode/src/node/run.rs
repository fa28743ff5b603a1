//! Starting and stopping a node.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use sa_proto::admin::v1::admin_server::AdminServer;
use sa_proto::alerts::v1::alerts_server::AlertsServer;
use sa_proto::cluster::v1::cluster_server::ClusterServer;
use sa_proto::ingest::v1::ingest_server::IngestServer;
use sa_raft::{RaftService, RaftTiming, Replica, ReplicaConfig};
use sa_rules::{EngineOptions, Plugs, PythonEnv};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::access::{self, Callers, Enforcement, GrpcAccess};
use super::admin::AdminService;
use super::audit::GrpcAudit;
use super::context::AlertStoreCommitter;
use super::grpc::ClusterService;
use super::identity::NodeIdentity;
use super::request_metrics::CountRequests;
use super::tls_listener::{self, Peer};
use super::transport::{Transport, TransportMetrics};
use super::{NodeArgs, NodeContext, config_watch, rule_promotion};
use crate::leader;
use crate::lookup_refresh;
use crate::metrics::NodeMetrics;
use crate::pipeline::{Detection, PipelineOptions};
use crate::sinks::AlertLog;
use crate::sources::admission::{Admission, AdmissionMetrics};
use crate::sources::ingest::{self, IngestService};
use crate::sources::{SourceContext, Started};
use sa_repository::LoadedRepository;
use sa_repository::lookup_tables::refreshed_tables;
use sa_state::{AlertStore, AuditLog, ConfigStore, LookupStore, Revocations, RuleStore, Tokens};

/// A server running until its shutdown, whatever its transport.
type BoxedServer = std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<()>> + Send>>;

fn boxed<E: std::error::Error + Send + Sync + 'static>(
    server: impl std::future::Future<Output = Result<(), E>> + Send + 'static,
) -> BoxedServer {
    Box::pin(async move { Ok(server.await?) })
}

/// How long the node's tasks get to finish what they hold once the node stops.
const DRAIN: std::time::Duration = std::time::Duration::from_secs(10);

/// Runs the node until SIGTERM or ctrl-c, then stops its tasks and servers gracefully.
pub async fn run(args: NodeArgs) -> anyhow::Result<()> {
    // Installed before anything else: a signal that arrives while no listener exists would be
    // swallowed by the runtime's handler and the node would never stop.
    let mut signals = ShutdownSignals::install()?;
    let notifier = match super::systemd::Notifier::from_env() {
        Ok(notifier) => notifier.map(Arc::new),
        Err(e) => {
            tracing::warn!(
                error = %e,
                "cannot use NOTIFY_SOCKET: systemd will not hear from this node"
            );
            None
        }
    };
    let identity = NodeIdentity::load_or_create(&args.data_dir, args.node_id)?;
    let metrics = Arc::new(NodeMetrics::new(identity.node_id));

    // Decided before binding: a node refusing to run plaintext on a public address must not
    // have listened there, not even for a moment.
    super::enrollment::enroll_if_needed(&args).await?;
    let transport = Transport::prepare(&args)?;
    let grpc_listener = TcpListener::bind(args.grpc_addr)
        .await
        .with_context(|| format!("cannot listen for gRPC on {}", args.grpc_addr))?;
    let http_listener = TcpListener::bind(args.http_addr)
        .await
        .with_context(|| format!("cannot listen for HTTP on {}", args.http_addr))?;
    let peer_listener = match args.peer_addr {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen for peers on {addr}"))?,
        ),
        None => None,
    };
    let grpc_addr = grpc_listener.local_addr()?;
    let http_addr = http_listener.local_addr()?;
    let advertise_addr = args
        .advertise_addr
        .clone()
        .unwrap_or_else(|| grpc_addr.to_string());
    // What the other members dial: the peer listener when there is one.
    let member_addr = match &peer_listener {
        Some(listener) => args
            .advertise_peer_addr
            .clone()
            .unwrap_or(listener.local_addr()?.to_string()),
        None => advertise_addr.clone(),
    };

    let replica = Replica::open(ReplicaConfig {
        node_id: identity.node_id,
        advertise_addr: member_addr.clone(),
        data_dir: args.data_dir.clone(),
        timing: RaftTiming {
            snapshot_after_logs: args.snapshot_after_logs,
            ..RaftTiming::default()
        },
        dialer: transport.dialer(),
    })
    .await
    .context("cannot open the replicated state")?;

    let configs = ConfigStore::new(replica.clone());
    let lookups = LookupStore::new(replica.clone());
    let rules = RuleStore::new(replica.clone());
    let plugs = Plugs {
        rule_table: Some(Arc::new(rules.clone())),
        threat_intel: None,
    };
    sa_rules::lookup::install(Arc::new(lookups.clone()));
    let python_env = PythonEnv::resolve(args.python_env.clone());
    let options = EngineOptions {
        whole_records: args.rules_whole_records,
        env: python_env.clone(),
        ..EngineOptions::default()
    };
    let (repository, version) = initial_repository(&args, &configs)?;
    let pipeline = PipelineOptions::with_classifier_threads(args.classifier_threads());
    let pipeline_metrics = metrics.clone();
    let detection = tokio::task::spawn_blocking(move || {
        Detection::start(
            repository,
            version,
            options,
            plugs,
            pipeline,
            pipeline_metrics,
        )
    })
    .await?
    .context("cannot start the detection pipeline")?;

    lookups.declare(detection.lookup_tables_config().as_ref());
    let node = Arc::new(NodeContext {
        advertise_addr: advertise_addr.clone(),
        http_addr: http_addr.to_string(),
        tls: transport.is_tls(),
        bundle_check: args.bundle_check_limits(),
        python_env,
        data_dir: args.data_dir.clone(),
        metrics,
        replica: replica.clone(),
        detection: Arc::new(detection),
        alerts: AlertStore::new(replica.clone()).with_merge_minute(args.alerts.merge_minute),
        configs,
        lookups,
        rules,
        alert_retention: args.alerts.alert_retention,
        alert_log: Arc::new(AlertLog::open(
            &args.data_dir.join("alerts.jsonl"),
            !args.quiet_alerts,
        )?),
    });
    node.detection.connect(
        Arc::new(AlertStoreCommitter::new(&node)),
        tokio::runtime::Handle::current(),
    );

    // Two stages: tasks stop first, servers (which Raft needs) after them.
    let shutdown = CancellationToken::new();
    let servers_stop = CancellationToken::new();
    let alert_runtime =
        super::alert_runtime::start(&node, &args.alerts, &args.data_dir, shutdown.clone())?;

    let admission_metrics = AdmissionMetrics::default();
    for collector in admission_metrics.collectors() {
        node.metrics.register(collector);
    }
    let source = Arc::new(SourceContext {
        pipeline: node.detection.clone(),
        admission: Admission::new(
            args.sources.ingest_max_held_mib as usize * 1024 * 1024,
            ingest::MAX_BODY_BYTES,
            admission_metrics,
        ),
        args: args.sources.clone(),
        clients: Default::default(),
        data_dir: args.data_dir.clone(),
        replica: replica.clone(),
        alerts: node.alerts.clone(),
        metrics: node.metrics.clone(),
        shutdown: shutdown.clone(),
    });
    let transport_metrics = TransportMetrics::new();
    for collector in transport_metrics.collectors() {
        node.metrics.register(collector);
    }
    let enforcement = if transport.is_tls() {
        Enforcement::Enforced
    } else {
        Enforcement::Open
    };
    let cluster_service = || {
        ClusterServer::new(ClusterService {
            node: node.clone(),
            cluster_keys: alert_runtime.cluster_keys.clone(),
            certs: match &transport {
                Transport::Tls(tls) => Some(tls.files().clone()),
                Transport::Plaintext => None,
            },
        })
    };
    let raft_service = || RaftService::new(replica.clone()).into_server();
    let mut grpc_routes = tonic::service::Routes::new(cluster_service())
        .add_service(
            AdminServer::new(AdminService { node: node.clone() })
                .max_decoding_message_size(sa_proto::MAX_ADMIN_MESSAGE_BYTES)
                .max_encoding_message_size(sa_proto::MAX_ADMIN_MESSAGE_BYTES),
        )
        .add_service(IngestServer::new(IngestService {
            context: source.clone(),
        }));
    // With a peer listener, Raft is served there only: firewalling it keeps everyone else out.
    let peer_routes = match &peer_listener {
        Some(_) => Some(tonic::service::Routes::new(cluster_service()).add_service(raft_service())),
        None => {
            grpc_routes = grpc_routes.add_service(raft_service());
            None
        }
    };
    let deliverer = alert_runtime.service.deliverer.clone();
    let grpc_routes = grpc_routes.add_service(AlertsServer::new(alert_runtime.service));
    let callers = Callers {
        tokens: Tokens::new(replica.clone()),
        revocations: Revocations::new(replica.clone()),
    };
    let grpc_server = || {
        tonic::transport::Server::builder()
            .layer(CountRequests::grpc(
                node.metrics.grpc_requests_total.clone(),
            ))
            .layer(GrpcAccess {
                enforcement,
                denied: transport_metrics.access_denied.clone(),
                callers: callers.clone(),
            })
            .layer(GrpcAudit {
                log: AuditLog::new(replica.clone()),
                node: replica.node_id(),
            })
    };
    let http_router =
        super::http::router(node.clone(), source.clone()).route_layer(axum::middleware::from_fn({
            let denied = transport_metrics.access_denied.clone();
            let callers = callers.clone();
            move |peer, route, request, next| {
                access::http_access(
                    enforcement,
                    denied.clone(),
                    callers.clone(),
                    peer,
                    route,
                    request,
                    next,
                )
            }
        }));
    macro_rules! serve_grpc {
        ($routes:expr, $incoming:expr) => {
            boxed(
                grpc_server()
                    .add_routes($routes)
                    .serve_with_incoming_shutdown(
                        $incoming,
                        servers_stop.clone().cancelled_owned(),
                    ),
            )
        };
    }
    macro_rules! serve_http {
        ($incoming:expr) => {
            boxed(
                axum::serve(
                    $incoming,
                    http_router.into_make_service_with_connect_info::<Peer>(),
                )
                .with_graceful_shutdown(servers_stop.clone().cancelled_owned())
                .into_future(),
            )
        };
    }
    let mut servers: Vec<(&str, BoxedServer)> = Vec::new();
    match &transport {
        Transport::Plaintext => {
            transport_metrics.tls_enabled.set(0);
            let plain = tokio_stream::wrappers::TcpListenerStream::new;
            servers.push(("gRPC", serve_grpc!(grpc_routes, plain(grpc_listener))));
            if let (Some(listener), Some(routes)) = (peer_listener, peer_routes) {
                servers.push(("peer gRPC", serve_grpc!(routes, plain(listener))));
            }
            servers.push(("HTTP", serve_http!(http_listener)));
        }
        Transport::Tls(tls) => {
            transport_metrics.tls_enabled.set(1);
            let accept = |listener, config| {
                tls_listener::accept(
                    listener,
                    config,
                    transport_metrics.handshake_failures.clone(),
                    servers_stop.clone(),
                )
            };
            let grpc_incoming = accept(grpc_listener, tls.grpc.clone())?;
            servers.push((
                "gRPC",
                serve_grpc!(grpc_routes, grpc_incoming.into_stream()),
            ));
            if let (Some(listener), Some(routes)) = (peer_listener, peer_routes) {
                let incoming = accept(listener, tls.grpc.clone())?;
                servers.push(("peer gRPC", serve_grpc!(routes, incoming.into_stream())));
            }
            servers.push((
                "HTTP",
                serve_http!(accept(http_listener, tls.http.clone())?),
            ));
            tokio::spawn(super::transport::watch_certificates(
                tls.clone(),
                args.cert_reload_interval,
                transport_metrics.cert_expiry_seconds.clone(),
                servers_stop.clone(),
            ));
        }
    }

    tracing::info!(
        node_id = identity.node_id,
        new_identity = identity.created,
        %grpc_addr,
        %http_addr,
        advertise_addr = %advertise_addr,
        member_addr = %member_addr,
        tls = transport.is_tls(),
        data_dir = %args.data_dir.display(),
        config_version = version,
        version = env!("CARGO_PKG_VERSION"),
        "node started"
    );

    let server_tasks: Vec<_> = servers
        .into_iter()
        .map(|(name, server)| {
            tokio::spawn(async move {
                server
                    .await
                    .with_context(|| format!("{name} server failed"))
            })
        })
        .collect();

    let refresh_metrics = lookup_refresh::RefreshMetrics::new();
    node.metrics
        .register(Box::new(refresh_metrics.failures.clone()));
    node.metrics
        .register(Box::new(refresh_metrics.commits.clone()));
    let mut leader_tasks = alert_runtime.leader_tasks;
    leader_tasks.push(Arc::new(lookup_refresh::LookupRefresh {
        detection: node.detection.clone(),
        store: node.lookups.clone(),
        metrics: refresh_metrics,
    }));
    leader_tasks.push(Arc::new(rule_promotion::RulePromotion {
        detection: node.detection.clone(),
        rules: node.rules.clone(),
        alerts: node.alerts.clone(),
        promoted: node.metrics.rules_promoted_total.clone(),
        interval: args.rule_promotion_interval,
    }));

    // Before the sources start, so it comes before the first alerts on the terminal.
    match super::summary::StartSummary::gather(
        &args,
        &replica,
        &node.detection,
        &deliverer,
        transport.is_tls(),
        http_addr,
    )
    .await
    {
        Ok(summary) => summary.print(args.log_format),
        Err(e) => tracing::warn!(error = format!("{e:#}"), "cannot summarize this node"),
    }

    let mut tasks = JoinSet::new();
    crate::sources::start_all(
        &source,
        &mut Started {
            tasks: &mut tasks,
            leader_tasks: &mut leader_tasks,
        },
    );
    tasks.spawn(leader::run(replica.clone(), leader_tasks, shutdown.clone()));
    tasks.spawn(config_watch::run(node.clone(), shutdown.clone()));
    tasks.spawn(async move {
        let _ = alert_runtime.outputs_reload.await;
    });
    let membership = super::membership::establish(&replica, args.join.as_deref());
    tokio::pin!(membership);
    let mut member = false;
    let signal = loop {
        tokio::select! {
            result = &mut membership, if !member => {
                if let Err(e) = result {
                    shutdown.cancel();
                    drain(tasks, false).await;
                    servers_stop.cancel();
                    sa_rules::lookup::uninstall();
                    replica.shutdown().await;
                    return Err(e);
                }
                member = true;
                // Ready means serving as a member: the listeners above are bound and their
                // servers run, and the node has bootstrapped, joined or resumed.
                if let Some(notifier) = &notifier {
                    notifier.notify("READY=1");
                    if let Some(interval) = super::systemd::watchdog_interval() {
                        let replica = replica.clone();
                        tokio::spawn(super::systemd::keep_watchdog(
                            notifier.clone(),
                            interval,
                            move || super::health::check(&replica),
                            // Pinged until the servers stop, so draining counts as alive.
                            servers_stop.clone(),
                        ));
                    }
                }
            }
            signal = signals.recv() => break signal,
        }
    };
    tracing::info!(signal, "shutting down");
    if let Some(notifier) = &notifier {
        notifier.notify("STOPPING=1");
    }
    // Sources and leader tasks first, while Raft can still commit what they finish; then the
    // servers and Raft itself.
    shutdown.cancel();
    drain(tasks, member).await;
    servers_stop.cancel();
    // The process-wide lookup source would keep the database open until exit.
    sa_rules::lookup::uninstall();
    replica.shutdown().await;
    for task in server_tasks {
        task.await??;
    }
    tracing::info!("node stopped");
    Ok(())
}

/// The config to start with: the active replicated bundle when this node has one (a restart),
/// else the local `--config-dir`/`--rules-dir` (version 0).
fn initial_repository(
    args: &NodeArgs,
    configs: &ConfigStore,
) -> anyhow::Result<(LoadedRepository, u64)> {
    if let Some(bundle) = configs.get(0)? {
        let version = bundle.version;
        let repository = config_watch::materialize(&args.data_dir, &bundle)
            .with_context(|| format!("cannot load the replicated config bundle v{version}"))?;
        return Ok((repository, version));
    }
    let root = args
        .config_dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let repository = LoadedRepository::load(root, &args.config_dir, Some(&args.rules_dir))
        .with_context(|| {
            format!(
                "cannot load the configuration in {}",
                args.config_dir.display()
            )
        })?;
    refreshed_tables(
        &args.config_dir.join("lookup_tables.json"),
        repository.classifier.config().files.get("lookup_tables"),
    )?;
    Ok((repository, 0))
}

/// Waits for the node's tasks to stop on the shutdown token; those still running after
/// [`DRAIN`] (a batch whose commit cannot complete) are aborted. A node that is no member yet
/// (stopped while it bootstraps or joins) has no leader to commit what they hold, so they are
/// aborted at once; sources move past a batch only once it is committed, so the next start reads
/// it again.
async fn drain(mut tasks: JoinSet<()>, member: bool) {
    if !member {
        tasks.shutdown().await;
        return;
    }
    let all = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(DRAIN, all).await.is_err() {
        tracing::warn!(running = tasks.len(), "tasks did not stop in time; aborted");
        tasks.shutdown().await;
    }
}

/// SIGTERM and SIGINT (ctrl-c), listened to from the start of the process.
struct ShutdownSignals {
    term: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
}

impl ShutdownSignals {
    fn install() -> anyhow::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(ShutdownSignals {
            term: signal(SignalKind::terminate()).context("cannot install the SIGTERM handler")?,
            interrupt: signal(SignalKind::interrupt())
                .context("cannot install the SIGINT handler")?,
        })
    }

    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.interrupt.recv() => "SIGINT",
        }
    }
}
