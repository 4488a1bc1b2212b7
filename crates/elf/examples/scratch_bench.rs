use std::time::Instant;
fn main() {
    let tree = std::env::args().nth(1).unwrap();
    let mut files = vec![];
    let mut stack = vec![std::path::PathBuf::from(tree)];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() { stack.push(p) } else if p.to_string_lossy().contains(".ko") { files.push(std::fs::read(&p).unwrap()) }
        }
    }
    let t = Instant::now();
    let mut total = 0;
    for _ in 0..3 { for f in &files { total += modkit_elf::decompress(f).unwrap().len(); } }
    eprintln!("decompress {} files {} bytes: {:?}", files.len(), total, t.elapsed());
    if std::env::args().nth(2).is_some() { return; }
    let t = Instant::now();
    let mut n = 0;
    for f in &files {
        let img = modkit_elf::decompress(f).unwrap();
        let m = modkit_elf::Module::parse(&img).unwrap();
        n += m.modinfo().unwrap().len() + m.exports().unwrap().len() + m.dependency_symbols().unwrap().len();
        let _ = modkit_elf::Signature::parse(&img);
    }
    eprintln!("decompress+parse all: {:?} ({n})", t.elapsed());
}
