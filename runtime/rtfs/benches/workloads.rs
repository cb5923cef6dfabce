//! The M4 workloads under criterion (`cargo xtask bench rtfs`). The same programs run beside
//! Rhai in `benches/peers` (outside the workspace), which reports the kiln ÷ Rhai ratios.

use criterion::{Criterion, criterion_group, criterion_main};
use rtfs::{Interpreter, NoHost};

const WORKLOADS: [(&str, &str); 4] = [
    ("fib 25", include_str!("workloads/fib.rtfs")),
    ("loop/recur 1e6", include_str!("workloads/loop.rtfs")),
    (
        "map/filter/reduce 1e5",
        include_str!("workloads/map_filter_reduce.rtfs"),
    ),
    (
        "group-by + frequencies 1e4",
        include_str!("workloads/group_by.rtfs"),
    ),
];

/// A deterministic RTFS data file of about `bytes` bytes: a vector of issue records.
pub fn data_file(bytes: usize) -> String {
    let mut out = String::from("[");
    let mut i = 0;
    while out.len() < bytes {
        out.push_str(&format!(
            "{{:id {i} :title \"Issue number {i} with some words\" :labels [\"bug\" \"p{}\"] :score {}.5 :open {}}}\n",
            i % 5,
            i % 100,
            i % 2 == 0
        ));
        i += 1;
    }
    out.push(']');
    out
}

fn bench(c: &mut Criterion) {
    for (name, src) in WORKLOADS {
        let program = Interpreter::default()
            .compile(src, None)
            .expect("workload compiles");
        c.bench_function(name, |b| {
            b.iter(|| {
                let mut it = Interpreter::default();
                it.run(&program, &mut NoHost).expect("workload runs")
            })
        });
    }
    let data = data_file(1 << 20);
    c.bench_function("read 1 MB data file", |b| {
        b.iter(|| {
            rtfs::reader::read_expr(&data, &Default::default())
                .expect("reads")
                .to_value()
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = bench
}
criterion_main!(benches);
