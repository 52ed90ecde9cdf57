//! Generates include/zkha.h with cbindgen (committed; `make test` checks it is up to date).

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("manifest dir");
    println!("cargo:rerun-if-changed=src/lib.rs");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    let config =
        cbindgen::Config::from_file(format!("{dir}/cbindgen.toml")).expect("cbindgen.toml");
    match cbindgen::Builder::new()
        .with_crate(&dir)
        .with_config(config)
        .generate()
    {
        Ok(bindings) => {
            // Written to OUT_DIR; `make header` copies it to include/ and `make test` diffs.
            let out = std::env::var("OUT_DIR").expect("out dir");
            bindings.write_to_file(format!("{out}/zkha.h"));
            bindings.write_to_file(format!("{dir}/../target/zkha.h"));
        }
        Err(e) => println!("cargo:warning=cbindgen failed: {e}"),
    }
}
