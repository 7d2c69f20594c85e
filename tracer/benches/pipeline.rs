//! decode → model → JSON, on the synthetic pods of `tracer::testkit` (the
//! replay benchmark's load): no root, no kernel. `cargo bench -p tracer`.

use std::hint::black_box;
use std::io;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use tracer::clock::Clock;
use tracer::decode::{Event, decode, encode};
use tracer::model::Model;
use tracer::pipeline::{Output, Pipeline, Source, View};
use tracer::render::{Format, renderer};
use tracer::testkit::{Feed, HOST, Maker, synthetic};

/// The workload's records, as the ring buffer would hand them over.
struct Records {
    make: Maker,
    out: Vec<Vec<u8>>,
}

impl Feed for Records {
    fn maker(&mut self) -> &mut Maker {
        &mut self.make
    }
    fn feed(&mut self, ev: Event) {
        self.out.push(encode(&ev));
    }
}

fn records() -> Vec<Vec<u8>> {
    let mut r = Records {
        make: Maker::new(1_000, 1_000_000),
        out: Vec::new(),
    };
    let load = synthetic::Workload {
        sandboxes: 200,
        events: 20_000,
        live: 20,
    };
    synthetic::run(&mut r, load);
    r.out
}

fn model() -> Model {
    let mut m = Model::new();
    m.seed(&[], &HOST.set(), 0);
    m
}

fn pipeline(format: Format, view: View) -> Pipeline<io::Sink, io::Sink> {
    let clock = Clock {
        realtime_minus_boottime_ns: 1_700_000_000_000_000_000,
    };
    let out = Output {
        render: renderer(format, clock),
        sink: io::sink(),
        view,
    };
    let source = Source {
        clock,
        supported: (1 << tracer_common::NS_COUNT) - 1,
        live: false,
    };
    Pipeline::new(model(), source, out, None)
}

fn bench(c: &mut Criterion) {
    let recs = records();
    let mut g = c.benchmark_group("per event");
    g.throughput(Throughput::Elements(recs.len() as u64));
    g.bench_function("decode", |b| {
        b.iter(|| {
            for r in &recs {
                black_box(decode(black_box(r)).is_ok());
            }
        })
    });
    g.bench_function("decode + model", |b| {
        b.iter_batched(
            model,
            |mut m| {
                for r in &recs {
                    if let Ok(ev) = decode(r) {
                        black_box(m.event(&ev));
                    }
                }
            },
            BatchSize::LargeInput,
        )
    });
    for (name, format, view) in [
        ("pipeline, raw JSON (--raw --json)", Format::Json, View::Raw),
        (
            "pipeline, lifecycle JSON (--json)",
            Format::Json,
            View::Pods,
        ),
        ("pipeline, raw text (--raw)", Format::Text, View::Raw),
    ] {
        g.bench_function(name, |b| {
            b.iter_batched(
                || pipeline(format, view),
                |mut p| {
                    for r in &recs {
                        black_box(p.event(r).is_ok());
                    }
                },
                BatchSize::LargeInput,
            )
        });
    }
    // What `--metrics` adds on the event path: the same quiet pipeline
    // with and without counters.
    for (name, metrics) in [
        ("pipeline, quiet (-q)", false),
        ("pipeline, quiet with metrics (-q --metrics)", true),
    ] {
        g.bench_function(name, |b| {
            b.iter_batched(
                || {
                    let p = pipeline(Format::Text, View::Quiet);
                    if metrics {
                        p.with_metrics(std::sync::Arc::new(tracer::metrics::Metrics::new(&[])))
                    } else {
                        p
                    }
                },
                |mut p| {
                    for r in &recs {
                        black_box(p.event(r).is_ok());
                    }
                },
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
