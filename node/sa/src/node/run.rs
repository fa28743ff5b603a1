//! Starting and stopping a node.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use sa_aws::AwsTarget;
use sa_aws_sources::SourceClients;
use sa_aws_sources::kinesis::ReaderOptions;
use sa_proto::admin::v1::admin_server::AdminServer;
use sa_proto::alerts::v1::alerts_server::AlertsServer;
use sa_proto::cluster::v1::cluster_server::ClusterServer;
use sa_proto::ingest::v1::ingest_server::IngestServer;
use sa_proto::raft::v1::raft_server::RaftServer;
use sa_raft::{RaftService, RaftTiming, Replica, ReplicaConfig};
use sa_rules::{EngineOptions, Plugs, PythonEnv};
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::admin::AdminService;
use super::context::AlertStoreCommitter;
use super::grpc::ClusterService;
use super::identity::NodeIdentity;
use super::ingest::IngestService;
use super::metrics::NodeMetrics;
use super::{NodeArgs, NodeContext, config_watch, rule_promotion};
use crate::pipeline::{Detection, LoadedRepository, PipelineOptions};
use crate::sinks::AlertLog;
use crate::sources::{file_tail, kinesis, kinesis_leases, s3_queue};
use crate::state::lookup_drivers::refreshed_tables;
use crate::state::{AlertStore, ConfigStore, LookupStore, RuleStore, lookup_refresh};

/// Runs the node until SIGTERM or ctrl-c, then stops its servers gracefully.
pub async fn run(args: NodeArgs) -> anyhow::Result<()> {
    // Installed before anything else: a signal that arrives while no listener exists would be
    // swallowed by the runtime's handler and the node would never stop.
    let mut signals = ShutdownSignals::install()?;
    let identity = NodeIdentity::load_or_create(&args.data_dir, args.node_id)?;
    let metrics = Arc::new(NodeMetrics::new(identity.node_id));

    let grpc_listener = TcpListener::bind(args.grpc_addr)
        .await
        .with_context(|| format!("cannot listen for gRPC on {}", args.grpc_addr))?;
    let http_listener = TcpListener::bind(args.http_addr)
        .await
        .with_context(|| format!("cannot listen for HTTP on {}", args.http_addr))?;
    let grpc_addr = grpc_listener.local_addr()?;
    let http_addr = http_listener.local_addr()?;
    let advertise_addr = args
        .advertise_addr
        .clone()
        .unwrap_or_else(|| grpc_addr.to_string());

    let replica = Replica::open(ReplicaConfig {
        node_id: identity.node_id,
        advertise_addr: advertise_addr.clone(),
        data_dir: args.data_dir.clone(),
        timing: RaftTiming {
            snapshot_after_logs: args.snapshot_after_logs,
            ..RaftTiming::default()
        },
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
    let options = EngineOptions {
        whole_records: args.rules_whole_records,
        env: PythonEnv::resolve(args.python_env.clone()),
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
        data_dir: args.data_dir.clone(),
        metrics,
        replica: replica.clone(),
        detection,
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

    let alert_runtime = crate::alerts::runtime::start(&node, &args.alerts, &args.data_dir)?;

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let grpc = tonic::transport::Server::builder()
        .add_service(ClusterServer::new(ClusterService { node: node.clone() }))
        .add_service(AdminServer::new(AdminService { node: node.clone() }))
        .add_service(AlertsServer::new(alert_runtime.service))
        .add_service(IngestServer::new(IngestService { node: node.clone() }))
        .add_service(RaftServer::new(RaftService::new(replica.clone())))
        .serve_with_incoming_shutdown(
            tokio_stream::wrappers::TcpListenerStream::new(grpc_listener),
            wait_for(shutdown_rx.clone()),
        );
    let http = axum::serve(http_listener, super::http::router(node.clone()))
        .with_graceful_shutdown(wait_for(shutdown_rx));

    tracing::info!(
        node_id = identity.node_id,
        new_identity = identity.created,
        %grpc_addr,
        %http_addr,
        advertise_addr = %advertise_addr,
        data_dir = %args.data_dir.display(),
        config_version = version,
        version = env!("CARGO_PKG_VERSION"),
        "node started"
    );

    let grpc_task = tokio::spawn(grpc);
    let http_task = tokio::spawn(async move { http.await });
    let watch_task = tokio::spawn(config_watch::run(node.clone()));
    let file_task = tokio::spawn(file_tail::run(node.clone()));
    let lookup_refresh_task = tokio::spawn(lookup_refresh::run(node.clone()));
    let promotion_task = tokio::spawn(rule_promotion::run(
        node.clone(),
        args.rule_promotion_interval,
    ));
    let source_clients = SourceClients::new(&AwsTarget::from_env()).await;
    let mut source_tasks = vec![
        tokio::spawn(kinesis_leases::run(
            node.clone(),
            source_clients.clone(),
            args.lease_timeout,
        )),
        tokio::spawn(kinesis::run(
            node.clone(),
            source_clients.clone(),
            kinesis::KinesisSettings {
                start: args.kinesis_start.clone(),
                reader: ReaderOptions::default(),
                fan_out: args.kinesis_fan_out.clone(),
            },
        )),
    ];
    for queue in &args.s3_queues {
        source_tasks.push(tokio::spawn(s3_queue::run(
            node.clone(),
            source_clients.clone(),
            queue.clone(),
            s3_queue::S3QueueSettings::default(),
        )));
    }

    let membership = super::membership::establish(&replica, args.join.as_deref());
    tokio::pin!(membership);
    let mut member = false;
    let signal = loop {
        tokio::select! {
            result = &mut membership, if !member => {
                if let Err(e) = result {
                    shutdown_tx.send_replace(true);
                    replica.shutdown().await;
                    return Err(e);
                }
                member = true;
            }
            signal = signals.recv() => break signal,
        }
    };
    tracing::info!(signal, "shutting down");
    shutdown_tx.send_replace(true);
    replica.shutdown().await;
    watch_task.abort();
    file_task.abort();
    lookup_refresh_task.abort();
    promotion_task.abort();
    for task in source_tasks {
        task.abort();
    }
    for task in alert_runtime.tasks {
        task.abort();
    }
    grpc_task.await?.context("gRPC server failed")?;
    http_task.await?.context("HTTP server failed")?;
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

async fn wait_for(mut shutdown: watch::Receiver<bool>) {
    // An error means the sender is gone, which only happens once run() is past shutdown anyway.
    let _ = shutdown.wait_for(|stop| *stop).await;
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
