//! `sactl test`: a StreamAlert repository tested offline, without a cluster.

use crate::cli::Target;
mod classifier;
mod rules;

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum TestCommand {
    /// Run every test event through the classifier; exit 1 if any is misclassified.
    Classifier(classifier::TestClassifierArgs),
    /// Run every test event through the classifier and the rules (docs/spec §15); exit 1 on any failure.
    Rules(rules::TestRulesArgs),
}

pub async fn run(_node: &Target, command: TestCommand) -> anyhow::Result<()> {
    match command {
        TestCommand::Classifier(args) => classifier::run(args),
        TestCommand::Rules(args) => rules::run(args),
    }
}
