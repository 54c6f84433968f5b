/**
 * The composer under a thread: a text field (a message, or the caption of the files chosen), an Attach
 * button, the files chosen so far as chips that can be removed, and Send. Files dropped anywhere on the
 * thread are chosen too. Enter sends. DOM only: what is sent is the page's business.
 * @module
 */
import { formatSize } from './readable.js';

/** The parts of the page the composer is made of. */
export interface ComposerParts {
  readonly form: HTMLFormElement;
  readonly text: HTMLInputElement;
  readonly picker: HTMLInputElement;
  readonly chips: HTMLUListElement;
  /** Where files can be dropped. */
  readonly dropZone: HTMLElement;
}

/** The composer, and what the page tells it. */
export interface Composer {
  /** Enables or disables every control (no conversation open, or signed out). */
  enable(on: boolean): void;
  /** Drops the files chosen and the text. */
  clear(): void;
  focus(): void;
}

/**
 * Wires the composer: `onSend(text, files)` is called on Send with the trimmed text and the files chosen
 * (either may be empty, not both), after which the composer is cleared.
 */
export const composerOf = (parts: ComposerParts, onSend: (text: string, files: readonly File[]) => void): Composer => {
  const { form, text, picker, chips, dropZone } = parts;
  let files: File[] = [];
  let enabled = false;

  const render = (): void => {
    chips.replaceChildren(
      ...files.map((file, at) => {
        const remove = document.createElement('button');
        remove.type = 'button';
        remove.textContent = '×';
        remove.setAttribute('aria-label', `Remove ${file.name}`);
        remove.addEventListener('click', () => {
          files = files.filter((_, index) => index !== at);
          render();
        });
        const chip = document.createElement('li');
        chip.append(`${file.name} · ${formatSize(file.size)}`, remove);
        return chip;
      }),
    );
    chips.hidden = files.length === 0;
    text.placeholder = files.length === 0 ? 'Write a message' : `Add a caption to ${files.length === 1 ? files[0]?.name : `the first of ${files.length} files`} (optional)`;
  };
  const choose = (chosen: Iterable<File>): void => {
    if (!enabled) return;
    files = [...files, ...chosen];
    render();
    text.focus();
  };

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const words = text.value.trim();
    if (!enabled || (words === '' && files.length === 0)) return;
    const sending = files;
    files = [];
    text.value = '';
    render();
    onSend(words, sending);
  });
  picker.addEventListener('change', () => {
    choose(Array.from(picker.files ?? []));
    picker.value = '';
  });
  dropZone.addEventListener('dragover', (event) => {
    event.preventDefault();
    if (enabled) dropZone.classList.add('over');
  });
  dropZone.addEventListener('dragleave', (event) => {
    if (!dropZone.contains(event.relatedTarget as Node | null)) dropZone.classList.remove('over');
  });
  dropZone.addEventListener('drop', (event) => {
    event.preventDefault();
    dropZone.classList.remove('over');
    choose(Array.from(event.dataTransfer?.files ?? []));
  });
  render();

  return {
    enable(on) {
      enabled = on;
      form.querySelectorAll<HTMLInputElement | HTMLButtonElement>('input, button').forEach((control) => {
        control.disabled = !on;
      });
    },
    clear() {
      files = [];
      text.value = '';
      render();
    },
    focus() {
      text.focus();
    },
  };
};
