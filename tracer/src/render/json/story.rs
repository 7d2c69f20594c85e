//! A story as one JSON line (`type: story`): its steps as `lifecycle`
//! objects, then its namespaces and sandboxes as the report gives them.

use serde::Serialize;

use super::{StepLine, step_line};
use crate::clock::Clock;
use crate::report::Story;

#[derive(Serialize)]
pub(super) struct StoryLine<'a> {
    #[serde(flatten)]
    story: &'a Story,
    steps: Vec<StepLine<'a>>,
}

impl<'a> StoryLine<'a> {
    pub fn new(clock: &Clock, story: &'a Story) -> Self {
        Self {
            story,
            steps: story.steps.iter().map(|s| step_line(clock, s)).collect(),
        }
    }
}
