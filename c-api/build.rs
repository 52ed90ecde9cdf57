//! Generates include/zkha.h with cbindgen (committed; `make test` checks it is up to date).

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("manifest dir");
    // libzkha.so.<major> is the name programs record (SONAME): an ABI-breaking release bumps
    // it, and `make install` puts libzkha.so.<version> with the .so.<major> and .so links.
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").expect("cargo sets the version");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libzkha.so.{major}");
    }
    // The whole source directory: the API is spread over one module per concept.
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    let mut config =
        cbindgen::Config::from_file(format!("{dir}/cbindgen.toml")).expect("cbindgen.toml");
    // The version this header belongs to (zkha_version() gives the library's at run time).
    let v = |k: &str| std::env::var(k).expect("cargo sets the package version");
    config.after_includes = Some(format!(
        "\n#define ZKHA_VERSION_MAJOR {}\n#define ZKHA_VERSION_MINOR {}\n#define ZKHA_VERSION_PATCH {}\n#define ZKHA_VERSION \"{}\"",
        v("CARGO_PKG_VERSION_MAJOR"),
        v("CARGO_PKG_VERSION_MINOR"),
        v("CARGO_PKG_VERSION_PATCH"),
        v("CARGO_PKG_VERSION")
    ));
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
