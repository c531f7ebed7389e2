//! The allocator of Verdict's WebAssembly modules (the npm package and the policy editor):
//! talc, with freed small blocks kept on one free list per size class in front of it.
//!
//! An evaluation makes a few hundred small allocations (tokens, names, tree nodes), most of
//! them freed before it ends. In WebAssembly a trip through a general allocator's bins cost
//! about a sixth of an evaluation's time (talc or dlmalloc alike; wasm/README.md). Here an
//! allocation of up to [`LARGEST`] bytes is a pop from its class's list and a free is a
//! push, as the size-class caches of mimalloc and jemalloc do on native hosts; larger
//! blocks, and the first block of each class slot, come from the allocator behind.
//!
//! A class's blocks are taken from the allocator behind at the class's size and are never
//! given back to it: a class holds at most as many blocks as were ever live in it at once.
//! WebAssembly memory never shrinks, so memory given back would stay the module's anyway.
//!
//! For single-threaded use only: the lists are not synchronised ([`Cached::new`]).

use std::alloc::{GlobalAlloc, Layout};
use std::cell::UnsafeCell;
use std::ptr;

/// Class sizes step by this many bytes, which is also every class block's alignment.
const STEP: usize = 16;
/// The largest size served from a class; larger blocks go to the allocator behind.
/// (2048 measured no faster on the benchmark's mix than 512.)
pub const LARGEST: usize = 512;
const CLASSES: usize = LARGEST / STEP;

/// The module's allocator: talc, growing WebAssembly memory as needed, behind the
/// size-class lists. Single-threaded WebAssembly only (without the `atomics` feature).
#[cfg(all(target_family = "wasm", not(target_feature = "atomics")))]
pub type WasmAllocator = Cached<talc::wasm::WasmDynamicTalc>;

/// See [`WasmAllocator`]: `#[global_allocator] static A: WasmAllocator = wasm_allocator();`
#[cfg(all(target_family = "wasm", not(target_feature = "atomics")))]
#[allow(unsafe_code)]
pub const fn wasm_allocator() -> WasmAllocator {
    // SAFETY: this target has one thread (no `atomics`), so the lists are never used
    // from two threads; talc returns blocks aligned as asked.
    unsafe { Cached::new(talc::wasm::new_wasm_dynamic_allocator()) }
}

/// `A` with a free list per size class in front of it.
pub struct Cached<A> {
    inner: A,
    /// The head of each class's list of free blocks; a free block holds the next one's
    /// address in its first bytes.
    free: UnsafeCell<[*mut u8; CLASSES]>,
}

// SAFETY: `Cached::new`'s contract: it is only ever used from one thread at a time.
#[allow(unsafe_code)]
unsafe impl<A: Sync> Sync for Cached<A> {}

impl<A> Cached<A> {
    /// # Safety
    /// The allocator must never be used from two threads at once, and `inner` must return
    /// blocks aligned as asked.
    #[allow(unsafe_code)]
    pub const unsafe fn new(inner: A) -> Cached<A> {
        Cached {
            inner,
            free: UnsafeCell::new([ptr::null_mut(); CLASSES]),
        }
    }
}

/// The class serving `layout`, or `None` when the allocator behind serves it.
#[inline(always)]
fn class_of(layout: Layout) -> Option<usize> {
    (layout.size() <= LARGEST && layout.align() <= STEP)
        .then(|| layout.size().saturating_sub(1) / STEP)
}

/// The layout a class's blocks are taken from the allocator behind with.
#[inline(always)]
fn class_layout(class: usize) -> Layout {
    match Layout::from_size_align((class + 1) * STEP, STEP) {
        Ok(layout) => layout,
        // A multiple of STEP (a power of two) no larger than LARGEST: never reached.
        Err(_) => Layout::new::<[u8; LARGEST]>(),
    }
}

// SAFETY: every block handed out is either the allocator behind's, for the same layout it
// is later freed with, or a block of a class taken from the allocator behind at the class's
// size (at least the size asked) and alignment STEP (at least the alignment asked), which is
// handed out again only after it was freed.
#[allow(unsafe_code)]
unsafe impl<A: GlobalAlloc> GlobalAlloc for Cached<A> {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(class) = class_of(layout) else {
            // SAFETY: the caller's layout, passed on.
            return unsafe { self.inner.alloc(layout) };
        };
        // SAFETY: one thread (`Cached::new`), and no reference to the lists outlives a call.
        let free = unsafe { &mut *self.free.get() };
        let Some(head) = free.get_mut(class) else {
            // SAFETY: as above (`class_of` keeps `class` below CLASSES: not reached).
            return unsafe { self.inner.alloc(layout) };
        };
        let block = *head;
        if block.is_null() {
            // SAFETY: a non-zero size (`class_layout`).
            return unsafe { self.inner.alloc(class_layout(class)) };
        }
        // SAFETY: a free block of this class, STEP-aligned and at least STEP long, holding
        // the next free block's address (`dealloc`).
        *head = unsafe { block.cast::<*mut u8>().read() };
        block
    }

    #[inline]
    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        let Some(class) = class_of(layout) else {
            // SAFETY: allocated by the allocator behind with this layout (`alloc`).
            return unsafe { self.inner.dealloc(block, layout) };
        };
        // SAFETY: one thread (`Cached::new`), and no reference to the lists outlives a call.
        let free = unsafe { &mut *self.free.get() };
        if let Some(head) = free.get_mut(class) {
            // SAFETY: the block is this class's (`alloc`): STEP-aligned, at least STEP long,
            // and no longer used by the caller.
            unsafe { block.cast::<*mut u8>().write(*head) };
            *head = block;
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if class_of(layout).is_none() {
            // SAFETY: the caller's layout, passed on.
            return unsafe { self.inner.alloc_zeroed(layout) };
        }
        // SAFETY: the caller's layout.
        let block = unsafe { self.alloc(layout) };
        if !block.is_null() {
            // SAFETY: the block holds at least `layout.size()` bytes.
            unsafe { ptr::write_bytes(block, 0, layout.size()) };
        }
        block
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let Ok(new_layout) = Layout::from_size_align(new_size, layout.align()) else {
            return ptr::null_mut();
        };
        match (class_of(layout), class_of(new_layout)) {
            // SAFETY: the allocator behind's block, with the layout it was allocated with.
            (None, None) => unsafe { self.inner.realloc(block, layout, new_size) },
            // The class's block already holds `new_size` bytes.
            (Some(old), Some(new)) if old == new => block,
            _ => {
                // SAFETY: a valid non-zero layout (the caller's contract on `new_size`).
                let moved = unsafe { self.alloc(new_layout) };
                if !moved.is_null() {
                    // SAFETY: two distinct live blocks, each at least this long; the old
                    // one is freed with the layout it was allocated with.
                    unsafe {
                        ptr::copy_nonoverlapping(block, moved, layout.size().min(new_size));
                        self.dealloc(block, layout);
                    }
                }
                moved
            }
        }
    }
}

#[cfg(test)]
#[allow(unsafe_code)]
mod tests {
    use super::*;
    use std::alloc::System;
    use std::collections::HashSet;

    fn cached() -> Cached<System> {
        // SAFETY: used from this test's thread only; the system allocator aligns as asked.
        unsafe { Cached::new(System) }
    }

    #[test]
    fn classes_cover_sizes_up_to_the_largest() {
        let at = |size, align| class_of(Layout::from_size_align(size, align).unwrap());
        assert_eq!(at(0, 1), Some(0));
        assert_eq!(at(1, 1), Some(0));
        assert_eq!(at(16, 8), Some(0));
        assert_eq!(at(17, 8), Some(1));
        assert_eq!(at(LARGEST, 16), Some(CLASSES - 1));
        assert_eq!(at(LARGEST + 1, 1), None);
        assert_eq!(at(8, 32), None);
        for size in 1..=LARGEST {
            let class = at(size, 1).unwrap();
            assert!(class < CLASSES);
            assert!(class_layout(class).size() >= size);
            assert!(class == 0 || class_layout(class - 1).size() < size);
            assert_eq!(class_layout(class).align(), STEP);
        }
    }

    #[test]
    fn freed_blocks_are_reused_within_their_class_only() {
        let a = cached();
        let small = Layout::from_size_align(24, 8).unwrap();
        let other = Layout::from_size_align(100, 8).unwrap();
        // SAFETY: every block is freed once, with the layout it was allocated with.
        unsafe {
            let p = a.alloc(small);
            a.dealloc(p, small);
            let q = a.alloc(other);
            assert_ne!(p, q, "a block of another class");
            assert_eq!(a.alloc(small), p, "the freed block of its class");
            let r = a.alloc(small);
            assert_ne!(r, p);
            // Growing within the class keeps the block; past it moves it.
            assert_eq!(a.realloc(p, small, 32), p);
            let grown = a.realloc(p, Layout::from_size_align(32, 8).unwrap(), 33);
            assert_ne!(grown, p);
            a.dealloc(grown, Layout::from_size_align(33, 8).unwrap());
            a.dealloc(r, small);
            a.dealloc(q, other);
        }
    }

    /// Blocks of many sizes and alignments, allocated, grown, shrunk and freed over
    /// rounds: live blocks never overlap, are aligned as asked and keep their bytes.
    #[test]
    fn live_blocks_are_distinct_aligned_and_keep_their_bytes() {
        let a = cached();
        let mut live: Vec<(*mut u8, Layout, u8)> = Vec::new();
        // SAFETY: every block is written within its layout and freed once, with the
        // layout it was last allocated or reallocated with.
        unsafe {
            for round in 0..4u8 {
                for i in 0..700usize {
                    let size = 1 + (i * 7) % 800;
                    let layout = Layout::from_size_align(size, 1 << (i % 6)).unwrap();
                    let zeroed = i % 3 == 0;
                    let p = if zeroed {
                        a.alloc_zeroed(layout)
                    } else {
                        a.alloc(layout)
                    };
                    assert!(!p.is_null());
                    assert_eq!(p as usize % layout.align(), 0);
                    if zeroed {
                        assert!((0..size).all(|k| *p.add(k) == 0), "not zeroed");
                    }
                    let mark = round.wrapping_mul(31).wrapping_add(i as u8);
                    ptr::write_bytes(p, mark, size);
                    live.push((p, layout, mark));
                }
                for entry in live.iter_mut().step_by(3) {
                    let (p, layout, mark) = *entry;
                    let new_size = if layout.size() % 2 == 0 {
                        layout.size() * 3
                    } else {
                        1 + layout.size() / 2
                    };
                    let q = a.realloc(p, layout, new_size);
                    assert!(!q.is_null());
                    assert_eq!(q as usize % layout.align(), 0);
                    let kept = layout.size().min(new_size);
                    assert!(
                        (0..kept).all(|k| *q.add(k) == mark),
                        "bytes lost on realloc"
                    );
                    ptr::write_bytes(q, mark, new_size);
                    *entry = (
                        q,
                        Layout::from_size_align(new_size, layout.align()).unwrap(),
                        mark,
                    );
                }
                let mut ends: Vec<(usize, usize)> = live
                    .iter()
                    .map(|(p, l, _)| (*p as usize, *p as usize + l.size()))
                    .collect();
                ends.sort_unstable();
                assert!(
                    ends.windows(2).all(|w| w[0].1 <= w[1].0),
                    "live blocks overlap"
                );
                assert_eq!(
                    live.iter()
                        .map(|(p, ..)| *p as usize)
                        .collect::<HashSet<_>>()
                        .len(),
                    live.len()
                );
                for (p, layout, mark) in &live {
                    assert!(
                        (0..layout.size()).all(|k| *p.add(k) == *mark),
                        "bytes overwritten"
                    );
                }
                // Free every other block so that the next round reuses them.
                let mut kept = Vec::new();
                for (n, (p, layout, mark)) in live.drain(..).enumerate() {
                    if n % 2 == 0 {
                        a.dealloc(p, layout);
                    } else {
                        kept.push((p, layout, mark));
                    }
                }
                live = kept;
            }
            for (p, layout, _) in live {
                a.dealloc(p, layout);
            }
        }
    }
}
