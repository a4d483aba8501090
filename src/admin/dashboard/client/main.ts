import { currentUserId, isAdmin, me, needsSecondFactor, restore, signOut, whenSignedOut } from './api.js';
import { h, loading, mount } from './dom.js';
import { renderEvents } from './events.js';
import { NOT_ADMIN, renderSignIn } from './signin.js';
import { renderUser } from './user.js';
import { renderUsers } from './users.js';
import { renderServers } from './servers.js';

const root = document.getElementById('app') as HTMLElement;
let view: HTMLElement | null = null;
let navLinks: HTMLAnchorElement[] = [];

function showSignIn(notice?: string): void {
  view = null;
  document.title = 'Sign in · latchkey admin';
  renderSignIn(root, () => void showApp(), notice);
}

async function notAdmin(): Promise<void> {
  await signOut();
  showSignIn(NOT_ADMIN);
}

async function showApp(): Promise<void> {
  if (!isAdmin()) return notAdmin();
  const who = h('span', { class: 'who' }, '');
  const signOutButton = h('button', { type: 'button', class: 'button button-quiet' }, 'Sign out');
  signOutButton.addEventListener('click', () => {
    void signOut().then((result) =>
      showSignIn(
        result.ok
          ? 'You are signed out.'
          : `You are signed out here, but the server could not end the session: ${result.message} Sign in and out again to be sure.`,
      ),
    );
  });
  navLinks = [
    h('a', { href: '#/users', 'data-nav': 'users' }, 'Users'),
    h('a', { href: '#/events', 'data-nav': 'events' }, 'Events'),
    h('a', { href: '#/resource-servers', 'data-nav': 'servers' }, 'Resource servers'),
  ];
  view = h('main', { id: 'main', tabindex: '-1' });
  mount(
    root,
    h('a', { href: '#main', class: 'skip' }, 'Skip to content'),
    h(
      'header',
      { class: 'topbar' },
      h('span', { class: 'brand' }, 'latchkey', h('span', { class: 'brand-sub' }, ' admin')),
      h('nav', { class: 'nav', 'aria-label': 'Main' }, navLinks),
      h('div', { class: 'account' }, who, signOutButton),
    ),
    view,
    h('div', { id: 'toast', class: 'toast', role: 'status', 'aria-live': 'polite' }),
  );
  route();
  try {
    who.textContent = (await me()).email;
  } catch {
    /* the name is decoration */
  }
}

/** MFA_REQUIRED covers admins and this one has no second factor yet: set one up first. */
function enrolFirst(): void {
  if (!view) return;
  document.title = 'Two-step sign-in required · latchkey admin';
  mount(
    view,
    h('div', { class: 'page-head' }, h('h1', {}, 'Turn on two-step sign-in first')),
    h('p', {}, 'Administrators of this latchkey must sign in with a second factor. Add an authenticator app or a passkey to your account, then come back.'),
    h('p', {}, h('a', { href: '/account/security', class: 'button button-primary' }, 'Set up two-step sign-in')),
  );
  view.focus();
}

function route(): void {
  if (!view) return;
  const [path, query] = (location.hash.replace(/^#/, '') || '/users').split('?');
  const params = new URLSearchParams(query ?? '');
  const userMatch = /^\/users\/([0-9a-f-]{36})$/.exec(path);
  const section =
    userMatch || path.startsWith('/users') ? 'users' : path.startsWith('/events') ? 'events' : path.startsWith('/resource-servers') ? 'servers' : 'users';
  for (const link of navLinks) {
    if (link.dataset.nav === section) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  const forbidden = () => (needsSecondFactor() ? enrolFirst() : void notAdmin());
  if (userMatch) {
    document.title = 'User · latchkey admin';
    renderUser(view, userMatch[1], forbidden);
  } else if (section === 'events') {
    document.title = 'Events · latchkey admin';
    renderEvents(view, params, forbidden);
  } else if (section === 'servers') {
    document.title = 'Resource servers · latchkey admin';
    renderServers(view, forbidden);
  } else {
    document.title = 'Users · latchkey admin';
    renderUsers(view, forbidden);
  }
  if (document.activeElement === document.body || document.activeElement?.closest('.nav, .back')) view.focus({ preventScroll: false });
}

window.addEventListener('hashchange', route);
whenSignedOut((reason) => showSignIn(reason));

async function start(): Promise<void> {
  mount(root, h('main', { class: 'signin' }, loading('Loading…')));
  if (await restore()) {
    if (currentUserId()) return showApp();
  }
  showSignIn();
}

void start();
