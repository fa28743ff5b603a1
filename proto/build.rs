//! Compiles `proto/*.proto` into tonic/prost code. protoc comes from the `protoc-bin-vendored`
//! crate (a crates.io package), so a build never downloads anything else and needs no system protoc.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // SAFETY: build scripts are single-threaded; nothing else reads the environment concurrently.
    unsafe { std::env::set_var("PROTOC", protoc) };
    let protos = [
        "proto/admin.proto",
        "proto/alerts.proto",
        "proto/cluster.proto",
        "proto/ingest.proto",
        "proto/raft.proto",
    ];
    for proto in protos {
        println!("cargo:rerun-if-changed={proto}");
    }
    tonic_prost_build::configure().compile_protos(&protos, &["proto"])?;
    Ok(())
}
