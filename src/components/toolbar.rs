//! Narrowing a large board down: a search box, "failing only", and folding
//! every group at once. The state lives on the board, so the cards and the
//! groups read it directly.

use crate::live::Board;
use leptos::prelude::*;

#[component]
pub fn Toolbar(board: Board) -> impl IntoView {
    let fold_all = move |fold: bool| {
        move |_| {
            let groups = board.groups();
            board.collapsed.update(|collapsed| {
                collapsed.clear();
                if fold {
                    collapsed.extend(groups.iter().cloned());
                }
            });
        }
    };
    view! {
        <section class="toolbar" aria-label="filters">
            <input
                type="search"
                class="search"
                placeholder="Search checks by name, group or kind"
                aria-label="search checks"
                prop:value=move || board.query.get()
                on:input=move |event| board.query.set(event_target_value(&event))
            />
            <label class="failing-only">
                <input
                    type="checkbox"
                    prop:checked=move || board.failing_only.get()
                    on:change=move |event| board.failing_only.set(event_target_checked(&event))
                />
                " Failing only"
            </label>
            <button class="fold-all" on:click=fold_all(true)>"Fold all"</button>
            <button class="unfold-all" on:click=fold_all(false)>"Unfold all"</button>
        </section>
    }
}
