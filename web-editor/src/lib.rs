#![doc = include_str!("../README.md")]

pub mod api;
pub mod app;
pub mod audit;
pub mod catalog;
pub mod data;
pub mod editor;
pub mod fields;
pub mod list;
pub mod live;
pub mod model;
pub mod panels;
pub mod perf;
pub mod preview;
pub mod storage;

pub use app::App;
