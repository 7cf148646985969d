// The entry point: theme first (no flash), then the app into #app.
import { render } from 'preact';
import { App } from './app';
import { initTheme } from './ui/theme';
import './styles.css';

initTheme();
render(<App />, document.getElementById('app')!);
