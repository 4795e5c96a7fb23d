import { Component, type ReactNode } from 'react';

/** Characters of the error's message shown in the panel; a message may quote the data that broke it. */
const MESSAGE_CUT = 300;

interface Props {
  /** What failed, for the panel: "this view", "this event", "this data". */
  what: string;
  /** When it changes (another route, another event selected), the children get another try. */
  resetKey?: unknown;
  /** A one-line panel, for a boundary inside a view rather than around one. */
  compact?: boolean;
  children: ReactNode;
}

interface State {
  error: unknown;
  failed: boolean;
  resetKey: unknown;
}

/**
 * Catches an error thrown while rendering its children and shows a small panel in their place, so an
 * event the dashboard cannot draw costs one view or one detail pane, not the page: the header, the
 * connection and the other views keep working. (React reports the error to the console itself.)
 */
export class ErrorBoundary extends Component<Props, State> {
  override state: State = { error: undefined, failed: false, resetKey: this.props.resetKey };

  static getDerivedStateFromError(error: unknown): Partial<State> {
    return { error, failed: true };
  }

  static getDerivedStateFromProps(props: Props, state: State): Partial<State> | null {
    return Object.is(props.resetKey, state.resetKey) ? null : { error: undefined, failed: false, resetKey: props.resetKey };
  }

  private readonly retry = () => this.setState({ error: undefined, failed: false });

  override render() {
    if (!this.state.failed) return this.props.children;
    const { what, compact } = this.props;
    const message = describe(this.state.error);
    return (
      <div className={`render-failed${compact ? ' compact' : ' panel'}`} role="alert" data-testid="render-failed">
        <div>
          Could not render {what} — <button type="button" onClick={() => window.location.reload()}>reload</button>{' '}
          <button type="button" onClick={this.retry}>try again</button>
        </div>
        <div className="muted mono">{message.length > MESSAGE_CUT ? `${message.slice(0, MESSAGE_CUT)}…` : message}</div>
      </div>
    );
  }
}

/** The error's message as text, whatever was thrown (an object without a `toString` included). */
function describe(error: unknown): string {
  try {
    return String(error instanceof Error ? error.message : error);
  } catch {
    return 'unprintable error';
  }
}
