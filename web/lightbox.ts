/**
 * The full-size view of an image: a modal `<dialog>` that shows a bar while the image downloads, then the
 * image with its name and caption. Escape, the Close button or a click beside the image closes it.
 * @module
 */

/** The dialog, and what the page tells it. */
export interface Lightbox {
  /** Opens the dialog for `title` with a bar, until {@link Lightbox.show} or {@link Lightbox.fail}. */
  loading(title: string, caption: string): void;
  /** Download progress, 0 to 1. */
  progress(fraction: number): void;
  /** Shows the image at `url` (a `blob:` URL owned by the caller). */
  show(url: string): void;
  /** Says why the image cannot be shown. */
  fail(words: string): void;
  /** Whether it shows `title` now (a late answer for another image is dropped). */
  showing(title: string): boolean;
}

/** Wires the page's `<dialog id="lightbox">`. */
export const lightboxOf = (dialog: HTMLDialogElement): Lightbox => {
  const find = <T extends HTMLElement>(selector: string): T => {
    const found = dialog.querySelector<T>(selector);
    if (!found) throw new Error(`the lightbox has no ${selector}`);
    return found;
  };
  const heading = find<HTMLHeadingElement>('.lightbox-title');
  const image = find<HTMLImageElement>('img');
  const bar = find<HTMLProgressElement>('progress');
  const caption = find<HTMLElement>('figcaption');
  const problem = find<HTMLElement>('.problem');
  find<HTMLButtonElement>('.close').addEventListener('click', () => dialog.close());
  // A click on the backdrop lands on the dialog itself, not on what is inside it.
  dialog.addEventListener('click', (event) => {
    if (event.target === dialog) dialog.close();
  });
  dialog.addEventListener('close', () => {
    image.removeAttribute('src');
    dialog.dataset['state'] = 'closed';
  });
  let title = '';
  return {
    loading(name, words) {
      title = name;
      heading.textContent = name;
      caption.textContent = words;
      caption.hidden = words === '';
      image.hidden = true;
      image.alt = name;
      problem.textContent = '';
      bar.hidden = false;
      bar.value = 0;
      dialog.dataset['state'] = 'loading';
      if (!dialog.open) dialog.showModal();
    },
    progress(fraction) {
      bar.value = fraction;
    },
    show(url) {
      image.src = url;
      image.hidden = false;
      bar.hidden = true;
      dialog.dataset['state'] = 'shown';
    },
    fail(words) {
      bar.hidden = true;
      problem.textContent = words;
      dialog.dataset['state'] = 'failed';
    },
    showing(name) {
      return dialog.open && title === name;
    },
  };
};
