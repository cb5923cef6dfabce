//! The kiln home: objects verified on every read, the registry's basics (issue #4 adds the
//! rest: history operations, rollback, diff, gc, the chain).

use kiln_store::{Hash, Home, ObjectStore, Registry, StoreError};
use rtfs::Value;

fn temp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("kiln-store-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn objects_are_named_by_content_and_verified_on_read() {
    let dir = temp("objects");
    let home = Home::open(&dir).unwrap();
    let h = home.objects.put(b"hello").unwrap();
    assert_eq!(h, Hash::of(b"hello"));
    assert_eq!(home.objects.put(b"hello").unwrap(), h, "idempotent");
    assert_eq!(home.objects.get(&h).unwrap(), b"hello");
    // Tamper with the file: the object is refused, named, never used.
    let hex = h.hex();
    let path = dir
        .canonicalize()
        .unwrap()
        .join("objects")
        .join(&hex[..2])
        .join(&hex[2..]);
    std::fs::write(&path, b"hellp").unwrap();
    match home.objects.get(&h) {
        Err(StoreError::Corrupt(x)) => assert_eq!(x, h),
        other => panic!("tampered object: {other:?}"),
    }
    assert!(StoreError::Corrupt(h).to_string().contains(&hex));
    // Putting the right bytes again repairs it.
    home.objects.put(b"hello").unwrap();
    assert_eq!(home.objects.get(&h).unwrap(), b"hello");
    assert!(matches!(
        home.objects.get(&Hash::of(b"absent")),
        Err(StoreError::Missing(_))
    ));
    std::fs::remove_dir_all(&dir).ok();
}

fn manifest(id: &str, module: &Hash, extra: &str) -> Value {
    let src = format!(
        r#"{{:id "{id}" :kind :wasm :module "{}" {extra}}}"#,
        module.hex()
    );
    rtfs::reader::read_expr(&src, &Default::default())
        .unwrap()
        .to_value()
}

#[test]
fn the_registry_versions_activates_and_pins() {
    let dir = temp("registry");
    let home = Home::open(&dir).unwrap();
    let reg = &home.registry;
    let m1 = home.objects.put(b"module one").unwrap();
    let m2 = home.objects.put(b"module two").unwrap();
    let v1 = reg
        .register(&manifest("text.words", &m1, ""), true)
        .unwrap();
    let v2 = reg
        .register(&manifest("text.words", &m2, ":description \"v2\""), true)
        .unwrap();
    assert_ne!(v1, v2);
    let hist = reg.history("text.words").unwrap();
    assert_eq!(
        hist.iter().map(|r| (r.seq, r.active)).collect::<Vec<_>>(),
        vec![(1, false), (2, true)]
    );
    assert_eq!(hist[1].parent, Some(v1));
    assert_eq!(reg.resolve("text.words").unwrap().row.hash, v2);
    assert_eq!(
        reg.resolve(&format!("text.words@{}", &v1.hex()[..8]))
            .unwrap()
            .row
            .hash,
        v1
    );
    assert!(matches!(
        reg.resolve("text.words@zz"),
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(reg.resolve("other"), Err(StoreError::NotFound(_))));
    // Re-registering the same manifest is the same version.
    assert_eq!(
        reg.register(&manifest("text.words", &m2, ":description \"v2\""), true)
            .unwrap(),
        v2
    );
    // A manifest naming a missing module, a bad id or a bad kind is refused.
    assert!(matches!(
        reg.register(&manifest("x.y", &Hash::of(b"nope"), ""), true),
        Err(StoreError::Missing(_))
    ));
    assert!(matches!(
        reg.register(&manifest("Bad Id", &m1, ""), true),
        Err(StoreError::Invalid(_))
    ));
    assert_eq!(reg.list().unwrap().len(), 1);
    // The state survives reopening.
    drop(home);
    let home = Home::open(&dir).unwrap();
    assert_eq!(home.registry.resolve("text.words").unwrap().row.hash, v2);
    std::fs::remove_dir_all(&dir).ok();
}
