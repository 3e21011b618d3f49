// The dashboard's entry: Pico CSS for the look, our few rules on top, the app into <body>.
import '@picocss/pico/css/pico.min.css';
import './dashboard.css';
import { render } from 'preact';
import { App } from './app.js';

render(<App />, document.body);
