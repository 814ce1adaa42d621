//! The README's tour of the API is `examples/tour.rs`, which `cargo test` compiles: its code
//! blocks, joined, must be that file (below its opening comment), so a change to one is a
//! change to the other.

#[test]
fn the_readme_tour_is_the_tour_example() {
    let readme = include_str!("../README.md");
    let example = include_str!("../examples/tour.rs");
    let start = readme.find("## Tour of the API").expect("the tour section");
    let end = readme[start..]
        .find("\n## Tests")
        .map_or(readme.len(), |n| start + n);
    let mut blocks = Vec::new();
    let mut rest = &readme[start..end];
    while let Some(open) = rest.find("```rust\n") {
        let code = &rest[open + "```rust\n".len()..];
        let close = code.find("```").expect("a closed block");
        blocks.push(code[..close].trim_end_matches('\n'));
        rest = &code[close + 3..];
    }
    assert!(blocks.len() >= 3, "{blocks:?}");
    let joined = blocks.join("\n") + "\n";
    let program: String = example
        .lines()
        .skip_while(|line| line.starts_with("//!") || line.is_empty())
        .map(|line| format!("{line}\n"))
        .collect();
    assert_eq!(program, joined, "README's tour and examples/tour.rs differ");
}
