import type { ComponentChildren } from 'preact';
import { useId } from 'preact/hooks';
import type { Permission } from '../lib/permissions.js';

/**
 * A button for an action a role may or may not take. When it may not, the
 * button is disabled and the reason is written beside it ("needs admin or
 * deployer — you are qa"), so the person knows why without trying.
 *
 * @example
 *   <ActionButton permission={mayCall('markVerdict', person)} onClick={openDialog}>Mark passed</ActionButton>
 */
export function ActionButton({
  permission,
  onClick,
  children,
  kind = 'secondary',
  testId,
}: {
  permission: Permission;
  onClick: () => void;
  children: ComponentChildren;
  kind?: 'primary' | 'secondary' | 'danger';
  testId?: string;
}) {
  const reasonId = useId();
  if (permission.allowed) {
    return (
      <button type="button" class={`button ${kind}`} onClick={onClick} data-testid={testId}>
        {children}
      </button>
    );
  }
  return (
    <span class="action-refused">
      <button
        type="button"
        class={`button ${kind}`}
        disabled
        aria-describedby={reasonId}
        data-testid={testId}
      >
        {children}
      </button>
      <span class="reason" id={reasonId}>
        {permission.reason}
      </span>
    </span>
  );
}
